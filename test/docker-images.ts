/**
 * Images for tests that run real containers: Parley's base (built once per engine), the example
 * and test-fixture algorithms built FROM it (once per content), and a client honouring DOCKER_HOST.
 */
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { ensureAlgorithmImage, type AlgorithmImage } from '../algorithms/algorithm-image.ts';
import { ensureBaseImage, type BaseImage } from '../algorithms/base-image.ts';

/** A client for the engine at DOCKER_HOST, else the local socket (dockerode reads DOCKER_HOST). */
export function testDocker(): Docker {
  return new Docker();
}

/** The folder of an algorithm in this repository: `secure-sum`, `test-fixtures/probe`, … */
export function algorithmDir(name: string): string {
  return fileURLToPath(new URL(`../algorithms/${name}`, import.meta.url));
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
