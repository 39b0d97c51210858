/**
 * PARLEY_S3_* as a deployment writes them: the embedded store unless a bucket is named, every
 * missing or wrong setting refused by name with what it takes, the secret from a file or the
 * environment and never in a message or a description.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { describeS3BlobConfig, readS3BlobConfig } from './s3-config.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
let dir: string;
let secretFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-s3-config-'));
  secretFile = join(dir, 'secret');
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const base = () => ({ PARLEY_S3_BUCKET: 'parley-blobs', PARLEY_S3_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com/', PARLEY_S3_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', PARLEY_S3_SECRET_ACCESS_KEY_FILE: secretFile });

async function refusal(env: NodeJS.ProcessEnv): Promise<{ message: string; variable: unknown }> {
  const err = await readS3BlobConfig(env).then(() => undefined, (e: { code: string; message: string; details: { variable?: string } }) => e);
  expect(err).toMatchObject({ code: ErrorCode.InvalidInput });
  expect(err!.message).not.toContain(SECRET);
  return { message: err!.message, variable: err!.details.variable };
}

describe('the S3 blob store\'s settings', () => {
  it('leave the embedded store in place when no bucket is named', async () => {
    expect(await readS3BlobConfig({})).toBeUndefined();
  });

  it('read the bucket, endpoint, region, prefix and key, and the secret from its file, with defaults', async () => {
    const config = await readS3BlobConfig(base());
    expect(config).toEqual({
      endpoint: 'https://s3.eu-central-1.amazonaws.com', bucket: 'parley-blobs', region: 'us-east-1', prefix: 'parley/blobs', addressing: 'path',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET,
    });
    expect(await readS3BlobConfig({ ...base(), PARLEY_S3_REGION: 'eu-central-1', PARLEY_S3_PREFIX: '', PARLEY_S3_ADDRESSING: 'virtual' })).toMatchObject({ region: 'eu-central-1', prefix: '', addressing: 'virtual' });
    const inline = { ...base(), PARLEY_S3_SECRET_ACCESS_KEY_FILE: undefined, PARLEY_S3_SECRET_ACCESS_KEY: SECRET };
    expect((await readS3BlobConfig(inline))?.secretAccessKey).toBe(SECRET);
    expect(describeS3BlobConfig(config!)).toBe('S3 bucket "parley-blobs" at https://s3.eu-central-1.amazonaws.com (region us-east-1, prefix "parley/blobs", key AKIAIOSFODNN7EXAMPLE)');
  });

  it('refuse each missing or wrong setting by name, saying what it takes', async () => {
    expect(await refusal({ PARLEY_S3_ENDPOINT: 'http://127.0.0.1:8333' })).toMatchObject({ variable: 'PARLEY_S3_BUCKET' });
    expect(await refusal({ ...base(), PARLEY_S3_ENDPOINT: undefined })).toMatchObject({ variable: 'PARLEY_S3_ENDPOINT' });
    expect(await refusal({ ...base(), PARLEY_S3_ENDPOINT: 's3.amazonaws.com' })).toMatchObject({ variable: 'PARLEY_S3_ENDPOINT' });
    const withCredentials = await refusal({ ...base(), PARLEY_S3_ENDPOINT: 'https://key:inline-secret@s3.example' });
    expect(withCredentials.message).toContain('without credentials');
    expect(withCredentials.message).not.toContain('inline-secret');
    // A secret with a slash does not even parse as a URL: refused, and not repeated either.
    expect(await refusal({ ...base(), PARLEY_S3_ENDPOINT: `https://key:${SECRET}@s3.example` })).toMatchObject({ variable: 'PARLEY_S3_ENDPOINT' });
    expect(await refusal({ ...base(), PARLEY_S3_BUCKET: 'Not_A_Bucket' })).toMatchObject({ variable: 'PARLEY_S3_BUCKET' });
    expect(await refusal({ ...base(), PARLEY_S3_PREFIX: '/blobs/' })).toMatchObject({ variable: 'PARLEY_S3_PREFIX' });
    expect(await refusal({ ...base(), PARLEY_S3_ADDRESSING: 'dns' })).toMatchObject({ variable: 'PARLEY_S3_ADDRESSING' });
    expect(await refusal({ ...base(), PARLEY_S3_ACCESS_KEY_ID: undefined })).toMatchObject({ variable: 'PARLEY_S3_ACCESS_KEY_ID' });
    expect(await refusal({ ...base(), PARLEY_S3_SECRET_ACCESS_KEY_FILE: undefined })).toMatchObject({ variable: 'PARLEY_S3_SECRET_ACCESS_KEY_FILE' });
    expect(await refusal({ ...base(), PARLEY_S3_SECRET_ACCESS_KEY: SECRET })).toMatchObject({ variable: 'PARLEY_S3_SECRET_ACCESS_KEY' });
    const missing = await refusal({ ...base(), PARLEY_S3_SECRET_ACCESS_KEY_FILE: join(dir, 'no-such-file') });
    expect(missing.message).toContain('cannot be read (ENOENT)');
    await writeFile(join(dir, 'empty'), '\n');
    expect((await refusal({ ...base(), PARLEY_S3_SECRET_ACCESS_KEY_FILE: join(dir, 'empty') })).message).toContain('which is empty');
  });
});
