import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BodyStreamError, CHUNK_BYTES, newFileKey, openBodyStream, sealBodyStream, sealedBodyLength, STREAM_NONCE_BYTES } from './body-stream.ts';

/** Length and SHA-256 of bytes: compared at once, where comparing megabytes element by element takes seconds. */
const bytesOf = (bytes: unknown) => (Buffer.isBuffer(bytes) ? { length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } : bytes);

const SEALED_CHUNK = CHUNK_BYTES + 16;

async function* piecesOf(bytes: Uint8Array, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield Buffer.from(bytes.subarray(i, i + size));
}
async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of stream) out.push(piece);
  return Buffer.concat(out);
}
const seal = (body: Uint8Array, key: Uint8Array) => collect(sealBodyStream(piecesOf(body, 10_007), key));
const open = (blob: Uint8Array, key: Uint8Array) => collect(openBodyStream(piecesOf(blob, 4_099), key));
const problemOf = (blob: Uint8Array, key: Uint8Array) => open(blob, key).then(() => 'opened', (err: unknown) => (err instanceof BodyStreamError ? err.problem : String(err)));

describe('a large body sealed as a stream (age payload, STREAM)', () => {
  it.each([0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES, 200_000])('opens a body of %i bytes as sealed, from pieces of any size', async (size) => {
    const body = randomBytes(size);
    const key = newFileKey();
    const blob = await seal(body, key);
    expect(blob.length).toBe(sealedBodyLength(size));
    expect(bytesOf(await open(blob, key))).toEqual(bytesOf(body));
  });

  it('seals and opens what a source gave even when the source refills one buffer for every piece', async () => {
    // A file reader that reads into one buffer: each piece is overwritten once the next is asked for.
    async function* oneBuffer(bytes: Uint8Array, size: number): AsyncGenerator<Buffer> {
      const buffer = Buffer.alloc(size);
      for (let i = 0; i < bytes.length; i += size) {
        const n = Buffer.from(bytes.subarray(i, i + size)).copy(buffer);
        yield buffer.subarray(0, n);
        buffer.fill(0xee);
      }
    }
    const body = randomBytes(3 * CHUNK_BYTES + 12_345);
    const key = newFileKey();
    for (const size of [1000, CHUNK_BYTES, CHUNK_BYTES + 7, 3 * CHUNK_BYTES]) {
      const blob = await collect(sealBodyStream(oneBuffer(body, size), key));
      expect(bytesOf(await open(blob, key))).toEqual(bytesOf(body));
      expect(bytesOf(await collect(openBodyStream(oneBuffer(blob, size), key)))).toEqual(bytesOf(body));
    }
  });

  it('gives a different blob for the same body each time (fresh nonce), and no plaintext in it', async () => {
    const body = Buffer.from('patient 4711 has HbA1c 48 mmol/mol. '.repeat(5000));
    const key = newFileKey();
    const [a, b] = [await seal(body, key), await seal(body, key)];
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from('patient 4711'))).toBe(false);
  });

  describe('refuses a blob an adversary changed', () => {
    const body = randomBytes(3 * CHUNK_BYTES + 100);
    const key = newFileKey();
    const sealed = seal(body, key);
    const chunkAt = (i: number) => STREAM_NONCE_BYTES + i * SEALED_CHUNK;

    it('with one bit flipped anywhere: in the nonce, a chunk or a tag', async () => {
      const blob = await sealed;
      for (const at of [0, STREAM_NONCE_BYTES + 5, chunkAt(1) + 100, chunkAt(2) - 1, blob.length - 1]) {
        const flipped = Buffer.from(blob);
        flipped[at]! ^= 0x01;
        expect(await problemOf(flipped, key)).toBe('chunk-invalid');
      }
    });

    it('cut short at a chunk boundary (the not-last chunk cannot pass as last)', async () => {
      const blob = await sealed;
      expect(await problemOf(blob.subarray(0, chunkAt(3)), key)).toBe('truncated');
      expect(await problemOf(blob.subarray(0, chunkAt(1)), key)).toBe('truncated');
    });

    it('cut short inside a chunk, or to its nonce alone, or to nothing', async () => {
      const blob = await sealed;
      expect(await problemOf(blob.subarray(0, chunkAt(2) + 1000), key)).toBe('chunk-invalid');
      expect(await problemOf(blob.subarray(0, STREAM_NONCE_BYTES), key)).toBe('truncated');
      expect(await problemOf(blob.subarray(0, 5), key)).toBe('too-short');
      expect(await problemOf(new Uint8Array(), key)).toBe('too-short');
    });

    it('with bytes added after its last chunk', async () => {
      const blob = await sealed;
      expect(await problemOf(Buffer.concat([blob, Buffer.from([0])]), key)).toBe('chunk-invalid');
      expect(await problemOf(Buffer.concat([blob, blob.subarray(chunkAt(0), chunkAt(1))]), key)).toBe('chunk-invalid');
      const whole = await seal(randomBytes(2 * CHUNK_BYTES), key); // its last chunk is full
      expect(await problemOf(Buffer.concat([whole, Buffer.from([0])]), key)).toBe('chunk-invalid');
    });

    it('with two chunks swapped, or one repeated in place of another', async () => {
      const blob = await sealed;
      const [c0, c1] = [blob.subarray(chunkAt(0), chunkAt(1)), blob.subarray(chunkAt(1), chunkAt(2))];
      const swapped = Buffer.concat([blob.subarray(0, chunkAt(0)), c1, c0, blob.subarray(chunkAt(2))]);
      expect(await problemOf(swapped, key)).toBe('chunk-invalid');
      const repeated = Buffer.concat([blob.subarray(0, chunkAt(1)), c0, blob.subarray(chunkAt(2))]);
      expect(await problemOf(repeated, key)).toBe('chunk-invalid');
    });

    it('opened with another key, or spliced from another blob under the same key', async () => {
      const blob = await sealed;
      expect(await problemOf(blob, newFileKey())).toBe('chunk-invalid');
      const other = await seal(randomBytes(3 * CHUNK_BYTES + 100), key);
      const spliced = Buffer.concat([blob.subarray(0, chunkAt(1)), other.subarray(chunkAt(1))]);
      expect(await problemOf(spliced, key)).toBe('chunk-invalid');
    });
  });

  it('gives out no plaintext of a chunk before that chunk is authenticated', async () => {
    const body = randomBytes(2 * CHUNK_BYTES + 10);
    const key = newFileKey();
    const blob = Buffer.from(await seal(body, key));
    blob[STREAM_NONCE_BYTES + 3]! ^= 0x80; // the first chunk
    const given: Buffer[] = [];
    await expect((async () => { for await (const piece of openBodyStream(piecesOf(blob, 1000), key)) given.push(piece); })()).rejects.toThrow(BodyStreamError);
    expect(given).toEqual([]);
  });
});
