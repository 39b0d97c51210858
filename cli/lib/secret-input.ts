/**
 * Reading a password from stdin, never from argv (where `ps` and shell history would show it): a
 * prompt without echo on a terminal, else the first line of what is piped in. Not a command itself.
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts';

// Far above any password the API accepts (1,024 characters); stops a runaway pipe.
const MAX_BYTES = 64 * 1024;

function readPiped(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      // The first line is all that is needed: stop there rather than wait for the pipe to close.
      if (text.includes('\n') || size > MAX_BYTES) finish(text);
    };
    const finish = (text: string) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', reject);
      input.pause();
      resolve(text);
    };
    const onEnd = () => finish(Buffer.concat(chunks).toString('utf8'));
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', reject);
  });
}

function promptHidden(prompt: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        // Raw mode delivers Ctrl-C as a character instead of SIGINT.
        if (ch === '\u0003') return done(new ParleyError(ErrorCode.InvalidInput, 'Cancelled at the password prompt; nothing was sent.'));
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
      return undefined;
    };
    output.write(prompt);
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

/**
 * A secret from stdin: prompted for without echo when stdin is a terminal, else its first line.
 * @throws ParleyError InvalidInput when it is empty.
 */
export async function readSecret(prompt: string, what: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  const text = input.isTTY ? await promptHidden(prompt, input, output) : await readPiped(input);
  const secret = text.split(/\r?\n/, 1)[0] ?? '';
  if (secret === '') {
    throw new ParleyError(ErrorCode.InvalidInput, `No ${what} on stdin. Type it at the prompt, or pipe it in (e.g. from a password manager); it is never taken from the command line.`);
  }
  return secret;
}
