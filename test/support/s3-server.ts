/**
 * A throwaway S3-compatible store for tests: SeaweedFS (`weed server -s3`: master, volume server,
 * filer and S3 gateway in one process) on free loopback ports, data in a temporary directory,
 * one identity with a random key pair. It checks SigV4 signatures and signed payload hashes, as
 * AWS S3 does, so the tests exercise Parley's signing for real. Built once by
 * `bash provision/install-s3-server.sh` into ~/.cache/parley/bin/weed; a test that needs it and
 * does not find it fails, saying so (never skips).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client, type S3Client } from '../../api/blobs/s3/s3-client.ts';
import { freePort } from '../../provision/free-port.ts';
import { stopChild } from '../../provision/stop-child.ts';

const START_TIMEOUT_MS = 120_000;

/** A store for one test file. */
export interface TestS3Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client for `bucket` with this server's credentials (overridable, e.g. a wrong secret). */
  client(bucket: string, overrides?: { accessKeyId?: string; secretAccessKey?: string }): S3Client;
  /** Creates an empty bucket of a fresh name; stop() empties and removes it. */
  createBucket(): Promise<string>;
  /** Empties and removes the buckets made, stops the server and deletes its data. */
  stop(): Promise<void>;
}

/** Where the server binary is: $PARLEY_S3_SERVER, else Parley's cache. */
export function s3ServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.PARLEY_S3_SERVER || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'parley', 'bin', 'weed');
}

/**
 * Starts the store and waits until it creates a bucket.
 *
 * @throws Error saying to run provision/install-s3-server.sh when the binary is missing, or with
 *   the server's last log lines when it does not come up.
 */
export async function startTestS3Server(): Promise<TestS3Server> {
  const bin = s3ServerBinary();
  try {
    await access(bin, constants.X_OK);
  } catch {
    throw new Error(`The S3-compatible test server is not installed: ${bin} is missing. Run \`bash provision/install-s3-server.sh\` (it builds SeaweedFS once with go install, into ~/.cache/parley/bin), or set PARLEY_S3_SERVER to a weed binary.`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'parley-s3-'));
  const accessKeyId = `PARLEYTEST${randomBytes(5).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  const region = 'us-east-1';
  await writeFile(join(dir, 's3.json'), JSON.stringify({
    identities: [{ name: 'parley-test', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }],
  }), { mode: 0o600 });
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await distinctFreePorts(8);
  const args = [
    `-logdir=${dir}`, 'server', '-ip=127.0.0.1', '-ip.bind=127.0.0.1', `-dir=${dir}`,
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`, '-master.telemetry=false', '-master.volumeSizeLimitMB=256',
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`, '-volume.max=16',
    '-filer', `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`, `-filer.localSocket=${join(dir, 'filer.sock')}`,
    '-s3', `-s3.port=${s3}`, `-s3.port.grpc=${s3Grpc}`, '-s3.port.iceberg=0', '-s3.port.lance=0', `-s3.localSocket=${join(dir, 's3.sock')}`,
    `-s3.config=${join(dir, 's3.json')}`, '-s3.autoCreateBucket=false',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const endpoint = `http://127.0.0.1:${s3}`;
  const client = (bucket: string, overrides: { accessKeyId?: string; secretAccessKey?: string } = {}) =>
    createS3Client({ endpoint, bucket, region, accessKeyId, secretAccessKey, ...overrides });
  const buckets: string[] = [];
  const stop = async () => {
    for (const bucket of buckets) await emptyAndRemove(client(bucket)).catch(() => {});
    process.off('exit', killOnExit);
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    // weed puts each part's local gRPC socket in /tmp whatever -dir says, and leaves it there.
    const sockets = [['master', masterGrpc], ['volume', volumeGrpc], ['filer', filerGrpc], ['s3', s3Grpc]] as const;
    await Promise.all(sockets.map(([part, port]) => rm(`/tmp/seaweedfs-${part}-grpc-${port}.sock`, { force: true })));
  };
  try {
    await waitUntilReady(child, client(`ready-${randomBytes(4).toString('hex')}`), output);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoint, region, accessKeyId, secretAccessKey, client,
    async createBucket() {
      const bucket = `parley-test-${randomBytes(6).toString('hex')}`;
      await client(bucket).createBucket();
      buckets.push(bucket);
      return bucket;
    },
    stop,
  };
}

/** Every object of the bucket, then the bucket. */
export async function emptyAndRemove(client: S3Client): Promise<void> {
  for await (const page of client.list('')) await Promise.all(page.keys.map((k) => client.delete(k)));
  await client.deleteBucket();
}

// Ready when a bucket can be created and removed: the gateway answers only once the filer and
// the volume server behind it do.
async function waitUntilReady(child: ChildProcess, probe: S3Client, output: string[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The S3 test server (weed) exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(output.join(''))}`);
    }
    try {
      await probe.createBucket();
      await probe.deleteBucket();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`The S3 test server (weed) did not become ready within ${START_TIMEOUT_MS} ms (last: ${(last as Error)?.message}):\n${tail(output.join(''))}`);
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-20).join('\n');
}
