/**
 * The images Parley's examples run: the base image (from the host's Node runtime, or an
 * ordinary image named by PARLEY_BASE_IMAGE for users with a registry) and the algorithm
 * images built FROM it. Each is built once and rebuilt only when its sources change.
 */
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { ensureAlgorithmImage } from '../algorithms/algorithm-image.ts';
import { ensureBaseImage } from '../algorithms/base-image.ts';
import type { ImageRef } from '../activities/types.ts';
import { repositoryOf } from '../common/image-name.ts';
import type { Progress } from './temporal-cli.ts';

export interface ExampleImages {
  base: string;
  secureSum: ImageRef;
  /** The secure sum by additive shares (workflows/secure-sum-additive.ts). */
  additiveSum: ImageRef;
  /** Filters a CSV dataset into the run volume's cohort (algorithms/preprocess). */
  preprocess: ImageRef;
  /** Count, sum, sum of squares and a histogram of a cohort column, for a secure sum (algorithms/analyse). */
  analyse: ImageRef;
  /** The link step's multi-party DH PSI (algorithms/link). */
  link: ImageRef;
  /** The vertical analyses' protocol over linked rows (algorithms/vertical). */
  vertical: ImageRef;
}

const SECURE_SUM_DIR = fileURLToPath(new URL('../algorithms/secure-sum', import.meta.url));
const ADDITIVE_SUM_DIR = fileURLToPath(new URL('../algorithms/additive-sum', import.meta.url));
const PREPROCESS_DIR = fileURLToPath(new URL('../algorithms/preprocess', import.meta.url));
const ANALYSE_DIR = fileURLToPath(new URL('../algorithms/analyse', import.meta.url));
const LINK_DIR = fileURLToPath(new URL('../algorithms/link', import.meta.url));
const VERTICAL_DIR = fileURLToPath(new URL('../algorithms/vertical', import.meta.url));

/** The example algorithms: image name → source folder. */
const EXAMPLES = {
  secureSum: ['parley/secure-sum', SECURE_SUM_DIR],
  additiveSum: ['parley/additive-sum', ADDITIVE_SUM_DIR],
  preprocess: ['parley/preprocess', PREPROCESS_DIR],
  analyse: ['parley/analyse', ANALYSE_DIR],
  link: ['parley/link', LINK_DIR],
  vertical: ['parley/vertical', VERTICAL_DIR],
} as const;

/**
 * Builds (or finds) the base and example algorithm images. Each is tagged by content hash and
 * also as `<name>:latest`, so a chain that names `parley/preprocess` resolves to this build.
 */
export async function ensureExampleImages(docker: Docker, progress: Progress, baseImage?: string): Promise<ExampleImages> {
  const base = await ensureBaseImage(docker, { onProgress: progress, ...(baseImage ? { baseImage } : {}) });
  const built: Partial<Record<keyof typeof EXAMPLES, ImageRef>> = {};
  for (const [key, [name, sourceDir]] of Object.entries(EXAMPLES) as Array<[keyof typeof EXAMPLES, readonly [string, string]]>) {
    const image = await ensureAlgorithmImage(docker, { name, sourceDir, base: base.ref, onProgress: progress });
    await docker.getImage(image.ref).tag({ repo: name, tag: 'latest' });
    built[key] = { name: image.ref, digest: image.digest };
  }
  return { base: base.ref, ...(built as Record<keyof typeof EXAMPLES, ImageRef>) };
}

/**
 * Pins a chain's image name (`parley/preprocess`, any tag) to this build of the example image,
 * as `resolveChain` asks; undefined for any other image.
 */
export function exampleImageResolver(images: ExampleImages): (name: string) => Promise<ImageRef | undefined> {
  const byRepository = new Map((Object.keys(EXAMPLES) as Array<keyof typeof EXAMPLES>).map((key) => [repositoryOf(images[key].name), images[key]]));
  return async (name) => byRepository.get(repositoryOf(name));
}
