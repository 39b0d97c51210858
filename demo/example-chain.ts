/**
 * A chain file read and pinned to this machine's builds of the example images: what the chain
 * demo, its tests, the golden recorder and the benchmark all start from. Problems are thrown as
 * one InvalidInput naming each (`file:line:column: path: message`), since none of these callers
 * can do anything but stop. The chain demo pins any chain file (pinForDemo): example images to
 * these builds, other images to what the user built and tagged on this machine's engine.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { LINK_IMAGE, SECURE_SUM_IMAGES, VERTICAL_IMAGE, isLinkStepFile, isSecureSumStepFile, isVerticalStepFile, parseChainFile, repositoryOf, resolveChain, type ChainFile, type ChainProblem } from '../chains/index.ts';
import type { ChainSpec, PinnedImage } from '../common/chain.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { exampleImageResolver, type ExampleImages } from '../provision/images.ts';
import { asAnalysisImage, asProtocolImage, type AllowedImage } from '../activities/site-policy.ts';

export const EXAMPLE_CHAIN_FILE = fileURLToPath(new URL('../examples/chains/cohort-mean.yaml', import.meta.url));

/** The example chain with differential privacy (examples/chains/cohort-mean-private.yaml). */
export const EXAMPLE_PRIVATE_CHAIN_FILE = fileURLToPath(new URL('../examples/chains/cohort-mean-private.yaml', import.meta.url));

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

/** The private example chain (cohort-mean-private.yaml), pinned to this machine's example images. */
export async function examplePrivateChain(images: ExampleImages, participants?: OrgId[]): Promise<ChainSpec> {
  return pinToExampleImages(await readChainFile(EXAMPLE_PRIVATE_CHAIN_FILE), images, { file: EXAMPLE_PRIVATE_CHAIN_FILE, ...(participants ? { participants } : {}) });
}

/** The example images a chain may name, as the demo's refusals list them. */
const EXAMPLE_IMAGE_NAMES = ['parley/preprocess', 'parley/analyse', SECURE_SUM_IMAGES.additive, SECURE_SUM_IMAGES.ring, LINK_IMAGE, VERTICAL_IMAGE];

/**
 * A chain that validates but cannot run in the demo: an image it cannot pin, an `at` site that is
 * not a demo registry. `problems` carry each one's path in the file (`steps[1].image`), so the
 * command can place them at file:line:column.
 */
export class ChainCannotRunError extends ParleyError {
  readonly problems: ChainProblem[];
  constructor(fileName: string, problems: ChainProblem[]) {
    super(ErrorCode.InvalidInput, `The chain ${fileName} cannot run in the demo:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`, { path: fileName });
    this.name = 'ChainCannotRunError';
    this.problems = problems;
  }
}

/** The image the engine holds under `reference` (a name, or the digest itself), or undefined. */
async function localImage(docker: Docker, reference: string): Promise<{ Id: string; RepoDigests?: string[] } | undefined> {
  try {
    return await docker.getImage(reference).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw new ParleyError(ErrorCode.Prerequisite, `Docker did not answer while pinning ${reference} (${(err as Error).message}). Is the engine running?`, { image: reference }, { cause: err });
  }
}

/** Where each step's image is named in the file, and the reference it names (a secure sum's default too). */
function imageReferences(chain: ChainFile): Array<{ path: string; step: string; reference: string }> {
  return chain.steps.map((step, i) => (isLinkStepFile(step)
    ? { path: `steps[${i}].link.image`, step: step.id, reference: step.link.image ?? LINK_IMAGE }
    : isVerticalStepFile(step)
    ? { path: `steps[${i}].vertical.image`, step: step.id, reference: step.vertical.image ?? VERTICAL_IMAGE }
    : isSecureSumStepFile(step)
    ? { path: `steps[${i}].secureSum.image`, step: step.id, reference: step.secureSum.image ?? SECURE_SUM_IMAGES[step.secureSum.protocol ?? 'additive'] }
    : { path: `steps[${i}].image`, step: step.id, reference: step.image }));
}

/**
 * Pins a chain for the demo's sites: an example image name to this machine's example build, any
 * other name to the image of that name on this machine's engine (one the user built and tagged),
 * a `name@sha256:…` reference only if the engine holds that image (the demo's sites run images
 * from this engine alone). Returns the spec and the pinned images that are not example builds,
 * which the demo's sites then allow as well.
 * @throws ChainCannotRunError naming each image it cannot pin (and what to do) and each `at`
 * site that is not among `participants`.
 */
export async function pinForDemo(chain: ChainFile, images: ExampleImages, docker: Docker, options: { participants: OrgId[]; fileName: string }): Promise<{ spec: ChainSpec; ownImages: PinnedImage[] }> {
  const examples = exampleImageResolver(images);
  const pins = new Map<string, PinnedImage>();
  const problems: ChainProblem[] = [];
  for (const { path, step, reference } of imageReferences(chain)) {
    if (pins.has(reference)) continue;
    const at = reference.lastIndexOf('@sha256:');
    const digest = at < 0 ? undefined : reference.slice(at + 1);
    const name = repositoryOf(reference);
    const example = digest === undefined ? await examples(reference) : undefined;
    const local = example ?? await localImage(docker, digest ?? reference).then((info) => info && (digest === undefined || info.Id === digest || (info.RepoDigests ?? []).includes(`${name}@${digest}`))
      ? { name, digest: digest ?? info.Id }
      : undefined);
    if (local !== undefined) {
      pins.set(reference, local);
      continue;
    }
    problems.push({
      path,
      message: digest === undefined
        ? `step "${step}": image ${reference} is neither an example image nor on this machine's Docker engine, so the demo cannot pin it. ` +
          `Build it here and tag it with that name (\`docker build -t ${name} .\`, or \`docker tag <image id> ${reference}\`), or use an example image: ${EXAMPLE_IMAGE_NAMES.join(', ')}.`
        : `step "${step}": image ${reference} is not on this machine's Docker engine, and the demo's sites run only images this machine holds. ` +
          `Pull or build it here, name it without its digest to pin the local build, or use an example image: ${EXAMPLE_IMAGE_NAMES.join(', ')}.`,
    });
  }
  const resolved = await resolveChain(chain, { resolveImage: async (reference) => pins.get(reference), participants: options.participants });
  // resolveChain's own word on an unpinned image would repeat the problem above, less helpfully.
  if (!resolved.ok) problems.push(...resolved.problems.filter((p) => !problems.some((q) => q.path === p.path)));
  if (problems.length > 0 || !resolved.ok) throw new ChainCannotRunError(options.fileName, problems);
  // Sites allow by repository and digest: an example build re-tagged under another name is the
  // user's own image as far as the allow-list goes.
  const same = (a: PinnedImage, b: PinnedImage) => repositoryOf(a.name) === repositoryOf(b.name) && a.digest === b.digest;
  const exampleBuilds = [images.preprocess, images.analyse, images.additiveSum, images.secureSum, images.link, images.vertical];
  const ownImages = [...pins.values()].filter((pin, i, all) => !exampleBuilds.some((e) => same(e, pin)) && all.findIndex((p) => same(p, pin)) === i);
  return { spec: resolved.spec, ownImages };
}

/**
 * A site's allow-list for the example images, each in its role: the preprocess and analyse
 * images as analysis steps that release nothing themselves, the secure sums as protocol images.
 * Only a secure sum's total then leaves a site.
 */
export function exampleAllowList(images: ExampleImages): AllowedImage[] {
  return [asAnalysisImage(images.preprocess), asAnalysisImage(images.analyse), asProtocolImage(images.additiveSum), asProtocolImage(images.secureSum), asProtocolImage(images.link), asProtocolImage(images.vertical)];
}
