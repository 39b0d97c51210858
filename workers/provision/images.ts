/**
 * The images Parley's examples run: the base image (from the host's Node runtime, or an
 * ordinary image named by PARLEY_BASE_IMAGE for users with a registry) and the algorithm
 * images built FROM it. Each is built once and rebuilt only when its sources change.
 */
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { ensureAlgorithmImage } from '../../algorithms/algorithm-image.ts';
import { ensureBaseImage } from '../../algorithms/base-image.ts';
import type { ImageRef } from '../../activities/types.ts';
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
}

const SECURE_SUM_DIR = fileURLToPath(new URL('../../algorithms/secure-sum', import.meta.url));
const ADDITIVE_SUM_DIR = fileURLToPath(new URL('../../algorithms/additive-sum', import.meta.url));
const PREPROCESS_DIR = fileURLToPath(new URL('../../algorithms/preprocess', import.meta.url));
const ANALYSE_DIR = fileURLToPath(new URL('../../algorithms/analyse', import.meta.url));

/** Builds (or finds) the base and example algorithm images. */
export async function ensureExampleImages(docker: Docker, progress: Progress, baseImage?: string): Promise<ExampleImages> {
  const base = await ensureBaseImage(docker, { onProgress: progress, ...(baseImage ? { baseImage } : {}) });
  const secureSum = await ensureAlgorithmImage(docker, { name: 'parley/secure-sum', sourceDir: SECURE_SUM_DIR, base: base.ref, onProgress: progress });
  const additiveSum = await ensureAlgorithmImage(docker, { name: 'parley/additive-sum', sourceDir: ADDITIVE_SUM_DIR, base: base.ref, onProgress: progress });
  const preprocess = await ensureAlgorithmImage(docker, { name: 'parley/preprocess', sourceDir: PREPROCESS_DIR, base: base.ref, onProgress: progress });
  const analyse = await ensureAlgorithmImage(docker, { name: 'parley/analyse', sourceDir: ANALYSE_DIR, base: base.ref, onProgress: progress });
  return {
    base: base.ref,
    secureSum: { name: secureSum.ref, digest: secureSum.digest },
    additiveSum: { name: additiveSum.ref, digest: additiveSum.digest },
    preprocess: { name: preprocess.ref, digest: preprocess.digest },
    analyse: { name: analyse.ref, digest: analyse.digest },
  };
}
