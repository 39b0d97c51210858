/**
 * resolveChain: a validated chain file → the ChainSpec the workflow runs. Every image is pinned by
 * digest (sites allow images by digest, so a tag that moves later cannot change what runs), and
 * every default is filled in, so the spec says exactly what will happen.
 */
import { repositoryOf } from '../common/image-name.ts';
import type { ChainSpec, ChainStep, PinnedImage, SecureSumProtocol } from '../common/chain.ts';
import { DEFAULT_DELTA } from '../common/privacy/protocol-privacy.ts';
import { DEFAULT_MODULUS, isLinkStepFile, isSecureSumStepFile, isVerticalStepFile } from './chain-file-schema.ts';
import type { ChainFile } from './chain-file-schema.ts';
import { checkChainRules } from './chain-rules.ts';
import type { ChainProblem } from './chain-rules.ts';
import { stepShapesOf } from './parse-chain-file.ts';

/** The image each secure-sum protocol runs unless the step names its own. */
export const SECURE_SUM_IMAGES: Record<SecureSumProtocol, string> = {
  additive: 'parley/additive-sum',
  ring: 'parley/secure-sum',
};

/** The link step's image unless the step names its own. */
export const LINK_IMAGE = 'parley/link';
/** The image a vertical step runs unless it names its own. */
export const VERTICAL_IMAGE = 'parley/vertical';

/** Finds an image's digest by name (the CLI asks the local Docker engine); undefined when unknown. */
export type ResolveImage = (name: string) => Promise<PinnedImage | undefined>;

export interface ResolveOptions {
  resolveImage: ResolveImage;
  /** The sites that will take part (e.g. `--sites`), when known: `at` lists are checked against them. */
  participants?: string[];
}

export type ResolvedChain = { ok: true; spec: ChainSpec } | { ok: false; problems: ChainProblem[] };

/** `name@sha256:…` taken as given: the author pinned it. */
function pinnedInReference(reference: string): PinnedImage | undefined {
  const at = reference.lastIndexOf('@sha256:');
  return at < 0 ? undefined : { name: repositoryOf(reference), digest: reference.slice(at + 1) };
}

/**
 * Resolves `file` (already validated by parseChainFile) into a ChainSpec.
 * Problems, as values: an image that cannot be pinned (naming the step), an `at` site outside
 * `participants`, a secure sum with fewer than 3 participants.
 */
export async function resolveChain(file: ChainFile, options: ResolveOptions): Promise<ResolvedChain> {
  const problems: ChainProblem[] = [];
  if (options.participants !== undefined) {
    problems.push(...checkChainRules(stepShapesOf(file), { list: options.participants, path: 'participants' }));
  }
  const pin = async (reference: string, path: string, stepId: string): Promise<PinnedImage> => {
    const pinned = pinnedInReference(reference) ?? await options.resolveImage(reference);
    if (pinned === undefined) {
      problems.push({ path, message: `step "${stepId}": image ${reference} is not known here, so it cannot be pinned by digest. Build or pull it, or pin it as ${reference}@sha256:<digest>.` });
      return { name: reference, digest: '' };
    }
    return pinned;
  };

  const steps: ChainStep[] = [];
  for (const [i, step] of file.steps.entries()) {
    const timeoutMs = step.timeoutSeconds === undefined ? {} : { timeoutMs: step.timeoutSeconds * 1000 };
    if (isLinkStepFile(step)) {
      steps.push({
        kind: 'link', id: step.id, image: await pin(step.link.image ?? LINK_IMAGE, `steps[${i}].link.image`, step.id),
        identifier: step.link.identifier, sources: step.link.sources.map((s) => ({ at: s.at, dataset: s.dataset, ...(s.complete ? { complete: [...s.complete] } : {}) })),
        after: step.after ?? [], ...timeoutMs,
      });
    } else if (isVerticalStepFile(step)) {
      const { linked, crosstab, summary, regression, modulus, image } = step.vertical;
      steps.push({
        kind: 'vertical', id: step.id, linked, image: await pin(image ?? VERTICAL_IMAGE, `steps[${i}].vertical.image`, step.id),
        modulus: modulus ?? DEFAULT_MODULUS, ...(crosstab ? { crosstab } : {}), ...(summary ? { summary } : {}), ...(regression ? { regression } : {}),
        after: [...new Set([...(step.after ?? []), linked])], ...timeoutMs,
      });
    } else if (isSecureSumStepFile(step)) {
      const protocol = step.secureSum.protocol ?? 'additive';
      steps.push({
        kind: 'secure-sum', id: step.id, protocol,
        image: await pin(step.secureSum.image ?? SECURE_SUM_IMAGES[protocol], `steps[${i}].secureSum.image`, step.id),
        values: step.secureSum.values, modulus: step.secureSum.modulus ?? DEFAULT_MODULUS,
        ...(step.secureSum.privacy ? { privacy: { epsilon: step.secureSum.privacy.epsilon, delta: step.secureSum.privacy.delta ?? DEFAULT_DELTA } } : {}),
        after: step.after, ...timeoutMs,
      });
    } else {
      steps.push({
        kind: 'container', id: step.id, image: await pin(step.image, `steps[${i}].image`, step.id),
        ...(step.at === undefined || step.at === 'all' ? {} : { at: step.at }),
        datasets: step.datasets ?? [], args: step.args ?? {}, after: step.after ?? [], inputs: step.inputs ?? [], ...timeoutMs,
      });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, spec: { name: file.name, ...(file.description === undefined ? {} : { description: file.description }), steps } };
}
