/**
 * A chain file read and pinned to this machine's builds of the example images: what the chain
 * demo, its tests, the golden recorder and the benchmark all start from. Problems are thrown as
 * one InvalidInput naming each (`file:line:column: path: message`), since none of these callers
 * can do anything but stop.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseChainFile, resolveChain, type ChainFile } from '../chains/index.ts';
import type { ChainSpec } from '../common/chain.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { exampleImageResolver, type ExampleImages } from '../provision/images.ts';
import { asAnalysisImage, asProtocolImage, type AllowedImage } from '../activities/site-policy.ts';

export const EXAMPLE_CHAIN_FILE = fileURLToPath(new URL('../examples/chains/cohort-mean.yaml', import.meta.url));

/** One of the example patient registries the example chain reads: `a` … `e` (examples/data/). */
export function exampleRegistryFile(letter: string): string {
  return fileURLToPath(new URL(`../examples/data/registry-${letter}.csv`, import.meta.url));
}

/** Reads and validates a chain file. @throws ParleyError InvalidInput listing every problem. */
export async function readChainFile(file: string): Promise<ChainFile> {
  const parsed = parseChainFile(await readFile(file, 'utf8'), file);
  if (!parsed.ok) {
    throw new ParleyError(ErrorCode.InvalidInput, `The chain ${file} is not valid:\n${parsed.problems.map((p) => `  ${file}:${p.line}:${p.column}: ${p.path}: ${p.message}`).join('\n')}`);
  }
  return parsed.file;
}

/**
 * Pins every image `chain` names to this machine's example builds, checked against `participants`
 * when given. @throws ParleyError InvalidInput listing every problem.
 */
export async function pinToExampleImages(chain: ChainFile, images: ExampleImages, options: { participants?: OrgId[]; file?: string } = {}): Promise<ChainSpec> {
  const resolved = await resolveChain(chain, { resolveImage: exampleImageResolver(images), ...(options.participants ? { participants: options.participants } : {}) });
  if (!resolved.ok) {
    throw new ParleyError(ErrorCode.InvalidInput, `The chain ${options.file ?? chain.name} cannot run here:\n${resolved.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  }
  return resolved.spec;
}

/** The example chain (examples/chains/cohort-mean.yaml), pinned to this machine's example images. */
export async function exampleChain(images: ExampleImages, participants?: OrgId[]): Promise<ChainSpec> {
  return pinToExampleImages(await readChainFile(EXAMPLE_CHAIN_FILE), images, { file: EXAMPLE_CHAIN_FILE, ...(participants ? { participants } : {}) });
}

/**
 * A site's allow-list for the example images, each in its role: the preprocess and analyse
 * images as analysis steps that release nothing themselves, the secure sums as protocol images.
 * Only a secure sum's total then leaves a site.
 */
export function exampleAllowList(images: ExampleImages): AllowedImage[] {
  return [asAnalysisImage(images.preprocess), asAnalysisImage(images.analyse), asProtocolImage(images.additiveSum), asProtocolImage(images.secureSum)];
}
