/**
 * A hostile test algorithm: it tries to get a secret from its dataset out of the site through a
 * failure, the way an algorithm author who controls only the image would. Not for production
 * allow-lists. It reads /data/<args.dataset> (a file holding one secret token), then
 *
 * - asks the node socket for `GET /x/<secret>` (a path the worker quotes when it refuses it),
 * - sends a message to the recipient `<secret>` (a name the worker quotes when it refuses it),
 * - writes the secret to stdout and stderr (the log lines a failure carries),
 * - and exits with `args.exitCode` (default 0; an exit code is 8 bits of data too).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { args, dataPath, send } from '#parley';

const secret = readFileSync(dataPath(args.dataset), 'utf8').trim();

await new Promise((resolve) => {
  const req = request({ socketPath: '/run/parley/node.sock', method: 'GET', path: `/x/${secret}`, agent: false }, (res) => {
    res.resume();
    res.on('end', resolve);
  });
  req.on('error', resolve);
  req.end();
});
await send(secret, { leaked: secret }).catch(() => undefined);
process.stdout.write(`row ${secret}\n`);
process.stderr.write(`row ${secret}\n`);
process.exit(args.exitCode ?? 0);
