/**
 * Everything the one-machine setup needs, provisioned idempotently with each step shown:
 * a Docker engine, the Temporal CLI (unless TEMPORAL_ADDRESS names a server), the images.
 */
import type Docker from 'dockerode';
import { ensureDockerEngine } from './docker-engine.ts';
import { ensureExampleImages, type ExampleImages } from './images.ts';
import { ensureTemporalCli, type Progress } from './temporal-cli.ts';

export interface PreparedMachine {
  docker: Docker;
  /** Absent when TEMPORAL_ADDRESS is set: then no dev server is started. */
  temporalCli?: string;
  temporalAddress?: string;
  images: ExampleImages;
}

/** Provisions the machine; throws a Prerequisite error naming what to run when it cannot. */
export async function prepareMachine(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<PreparedMachine> {
  const docker = await ensureDockerEngine(progress);
  progress('✓ Docker engine answers');
  const temporalAddress = env.TEMPORAL_ADDRESS || undefined;
  let temporalCli: string | undefined;
  if (temporalAddress) {
    progress(`✓ Temporal server: ${temporalAddress} (TEMPORAL_ADDRESS)`);
  } else {
    temporalCli = await ensureTemporalCli(progress, env);
    progress(`✓ Temporal CLI: ${temporalCli}`);
  }
  const images = await ensureExampleImages(docker, progress, env.PARLEY_BASE_IMAGE || undefined);
  progress(`✓ Images: ${images.base}, ${[images.secureSum, images.additiveSum, images.preprocess, images.analyse].map((i) => i.name).join(', ')}`);
  return { docker, images, ...(temporalCli ? { temporalCli } : {}), ...(temporalAddress ? { temporalAddress } : {}) };
}
