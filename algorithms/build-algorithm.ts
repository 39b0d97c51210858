/**
 * Builds a data scientist's algorithm from its folder: reads its manifest, finds (or makes, once)
 * the base its language needs — the Node base for JavaScript, the debootstrap Python base with
 * the manifest's Debian packages for Python, or any image a registry user names — and builds the
 * image FROM it with the args schema and language as labels. Same sources, same base: same tag
 * and digest, and no work at all.
 */
import type Docker from 'dockerode';
import { ensureAlgorithmImage, type AlgorithmImage } from './algorithm-image.ts';
import { loadManifest, type AlgorithmManifest } from './algorithm-manifest.ts';
import { ARGS_SCHEMA_LABEL, LANGUAGE_LABEL } from './args-schema.ts';
import { ensureBaseImage, type BaseImage } from './base-image.ts';
import type { OnProgress } from './docker-progress.ts';
import { ensurePythonBaseImage, pythonBaseRef } from './python-base-image.ts';

/** What a scaffolded folder keeps beside its code and never ships in the image. */
export const SAMPLES_DIR = 'samples';

export interface BuildAlgorithmOptions {
  /** An ordinary image to build FROM instead of Parley's own base (PARLEY_BASE_IMAGE). */
  baseImage?: string;
  /**
   * Called before a Python base is made (only when it is not cached yet), so the edge can
   * provision debootstrap first (provision/debootstrap.ts).
   */
  beforePythonBase?: () => Promise<void>;
  onProgress?: OnProgress;
}

export interface BuiltAlgorithm extends AlgorithmImage {
  manifest: AlgorithmManifest;
  base: BaseImage;
}

async function pythonBase(docker: Docker, manifest: AlgorithmManifest, options: BuildAlgorithmOptions): Promise<BaseImage> {
  const { onProgress } = options;
  const ref = pythonBaseRef(manifest.packages);
  const cached = await docker.getImage(ref).inspect().then(() => true, () => false);
  if (!cached) await options.beforePythonBase?.();
  return ensurePythonBaseImage(docker, { packages: manifest.packages, ...(onProgress ? { onProgress } : {}) });
}

/**
 * Builds (or finds) the image of the algorithm in `dir`.
 * Throws what loadManifest, the base builders and ensureAlgorithmImage throw: ParleyError
 * InvalidInput / ManifestError for the folder, Prerequisite for a base it cannot have, ImageBuild
 * for a failed build.
 */
export async function buildAlgorithm(docker: Docker, dir: string, options: BuildAlgorithmOptions = {}): Promise<BuiltAlgorithm> {
  const { onProgress, baseImage } = options;
  const manifest = await loadManifest(dir);
  const base =
    baseImage !== undefined
      ? await ensureBaseImage(docker, { baseImage, ...(onProgress ? { onProgress } : {}) })
      : manifest.language === 'python'
        ? await pythonBase(docker, manifest, options)
        : await ensureBaseImage(docker, onProgress ? { onProgress } : {});
  const image = await ensureAlgorithmImage(docker, {
    name: manifest.name,
    sourceDir: dir,
    base,
    language: manifest.language,
    entry: manifest.entry,
    labels: { [ARGS_SCHEMA_LABEL]: JSON.stringify(manifest.args), [LANGUAGE_LABEL]: manifest.language },
    exclude: [SAMPLES_DIR],
    ...(onProgress ? { onProgress } : {}),
  });
  // The build's tag is its content hash; `latest` lets a chain name the image without it.
  await docker.getImage(image.ref).tag({ repo: manifest.name, tag: 'latest' });
  return { ...image, manifest, base };
}
