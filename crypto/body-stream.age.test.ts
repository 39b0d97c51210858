/**
 * Parley's streamed body against the reference implementation of age (filippo.io/age's CLI):
 * the payload format is age's own (C2SP age v1, "Payload"), so a body Parley sealed must open
 * with `age -d`, a file `age -e` wrote must open with openBodyStream, and a payload either side
 * refuses the other refuses too. The age header around Parley's payload is test/support/age-file.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAge } from '../test/support/age-cli.ts';
import { ageFileOf, newAgeIdentity, openAgeFile } from '../test/support/age-file.ts';
import { BodyStreamError, CHUNK_BYTES, newFileKey, openBodyStream, sealBodyStream, STREAM_NONCE_BYTES } from './body-stream.ts';

/** Length and SHA-256 of bytes: compared at once, where comparing megabytes element by element takes seconds. */
const bytesOf = (bytes: unknown) => (Buffer.isBuffer(bytes) ? { length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } : bytes);

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}
async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of stream) out.push(piece);
  return Buffer.concat(out);
}
const openedByParley = (payload: Buffer, fileKey: Buffer) => collect(openBodyStream(once(payload), fileKey)).then((body) => body, (err: unknown) => (err instanceof BodyStreamError ? err.problem : err));

const dir = mkdtempSync(join(tmpdir(), 'parley-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keys = newAgeIdentity();
const identityFile = join(dir, 'identity.txt');
writeFileSync(identityFile, `${keys.identity}\n`, { mode: 0o600 });
const SIZES = [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 100, 1024 * 1024];

describe('the streamed body is age\'s payload, checked against the age CLI', () => {
  it.each(SIZES)('a body of %i bytes Parley sealed opens with age -d', async (size) => {
    const body = randomBytes(size);
    const fileKey = newFileKey();
    const payload = await collect(sealBodyStream(once(body), fileKey));
    expect(bytesOf(await runAge(['-d', '-i', identityFile], ageFileOf(fileKey, payload, keys.recipient)))).toEqual(bytesOf(body));
  });

  it.each(SIZES)('a body of %i bytes age -e sealed opens with openBodyStream', async (size) => {
    const body = randomBytes(size);
    const { fileKey, payload } = openAgeFile(await runAge(['-e', '-r', keys.recipient], body), keys.identity);
    expect(bytesOf(await openedByParley(payload, fileKey))).toEqual(bytesOf(body));
  });

  it('refuses, as age does, a payload cut at a chunk boundary, cut inside a chunk, or with a bit flipped', async () => {
    const body = randomBytes(3 * CHUNK_BYTES + 100);
    const { fileKey, payload } = openAgeFile(await runAge(['-e', '-r', keys.recipient], body), keys.identity);
    const chunkAt = (i: number) => STREAM_NONCE_BYTES + i * (CHUNK_BYTES + 16);
    const flipped = Buffer.from(payload);
    flipped[chunkAt(1) + 7]! ^= 0x80;
    for (const [altered, problem] of [
      [payload.subarray(0, chunkAt(2)), 'truncated'],
      [payload.subarray(0, chunkAt(2) + 500), 'chunk-invalid'],
      [flipped, 'chunk-invalid'],
    ] as const) {
      expect(await openedByParley(altered, fileKey)).toBe(problem);
      await expect(runAge(['-d', '-i', identityFile], ageFileOf(fileKey, altered, keys.recipient))).rejects.toThrow(/exited with 1/);
    }
  });
});
