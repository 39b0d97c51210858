/**
 * Images for tests that run real containers: Parley's base (built once per engine), the example
 * and test-fixture algorithms built FROM it (once per content), and a client honouring DOCKER_HOST.
 */
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { ensureAlgorithmImage, type AlgorithmImage } from '../../algorithms/algorithm-image.ts';
import { ensureBaseImage, type BaseImage } from '../../algorithms/base-image.ts';
import { readProgress } from '../../algorithms/docker-progress.ts';
import { hostBinaryEntries, withParentDirectories } from '../../algorithms/host-runtime.ts';
import { packEntries } from '../../algorithms/tar-pack.ts';

/** A client for the engine at DOCKER_HOST, else the local socket (dockerode reads DOCKER_HOST). */
export function testDocker(): Docker {
  return new Docker();
}

/** The folder of an algorithm in this repository: `secure-sum`, `test-fixtures/probe`, … */
export function algorithmDir(name: string): string {
  return fileURLToPath(new URL(`../../algorithms/${name}`, import.meta.url));
}

/** Ensures the base and the named algorithms' images; call once per test file (beforeAll). */
export async function testImages<const N extends string>(
  docker: Docker,
  algorithms: Record<N, string>,
): Promise<{ base: BaseImage } & Record<N, AlgorithmImage>> {
  const base = await ensureBaseImage(docker);
  const built: Record<string, AlgorithmImage> = {};
  for (const [key, dir] of Object.entries<string>(algorithms)) {
    built[key] = await ensureAlgorithmImage(docker, { name: `parley-test/${dir.replace(/^test-fixtures\//, '')}`, sourceDir: algorithmDir(dir), base });
  }
  return { base, ...(built as Record<N, AlgorithmImage>) };
}

/**
 * An "ordinary" Node image, as a site with a registry might name in PARLEY_BASE_IMAGE: Node, a
 * POSIX shell and the few tools the preparing RUN step uses, running as root, without Parley's
 * user or directories. Made from this host's binaries (there is no registry to pull one from).
 */
export async function ensureOrdinaryNodeImage(docker: Docker): Promise<string> {
  const ref = `parley-test/ordinary-node:${process.versions.node}`;
  try {
    await docker.getImage(ref).inspect();
    return ref;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  const tools = ['grep', 'mkdir', 'chown', 'chmod'].map((t) => ({ at: `/bin/${t}`, from: `/bin/${t}` }));
  const root = { uid: 0, gid: 0 };
  const entries = withParentDirectories([
    ...(await hostBinaryEntries([{ at: '/usr/local/bin/node', from: process.execPath }, { at: '/bin/sh', from: '/bin/sh' }, ...tools])),
    { path: '/tmp', type: 'directory', mode: 0o1777, ...root },
    { path: '/etc/passwd', type: 'file', mode: 0o644, ...root, content: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { path: '/etc/group', type: 'file', mode: 0o644, ...root, content: Buffer.from('root:x:0:\n') },
  ]);
  const [repo, tag] = ref.split(':') as [string, string];
  await readProgress(await docker.importImage(Readable.from(packEntries(entries)), { repo, tag, changes: ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["node"]'] }));
  return ref;
}
