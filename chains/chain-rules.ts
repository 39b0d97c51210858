/**
 * The rules of a chain that span steps and sites — what a JSON Schema cannot say. The same rules
 * hold for a chain file and for a resolved ChainSpec sent to the API, so they are written once,
 * over the part both share (ids, references, where steps run).
 *
 * The rules, each with its reason:
 * 1. Step ids are unique: references and results name steps by id.
 * 2. `after` and `inputs` name only EARLIER steps (not the step itself, not a later or unknown
 *    one): the chain is then a DAG by construction, and reads top to bottom.
 * 3. `inputs` names container steps only: a secure sum's total is sealed for the requester, never
 *    sent to another step.
 * 4. A secure sum's `after` names at least one container step that runs at every site: each site
 *    must have written the values file before it adds it in.
 * 5. Where the sites are known (the file's `sites`, the run's participants), every `at` site is
 *    one of them, and a chain with a secure sum has at least 3: with two, each would learn the
 *    other's value from the total. A vertical step needs 3 too: each product of two sites'
 *    columns has a third participant, holding neither, as its dealer.
 */
import { MIN_SECURE_SUM_SITES } from '../common/chain.ts';

/** One thing wrong with a chain: where (`steps[1].after[0]`) and what, with the fix. */
export interface ChainProblem {
  path: string;
  message: string;
}

/** What the rules look at in a step, file or spec alike. */
export interface StepShape {
  id: string;
  kind: 'container' | 'secure-sum' | 'link' | 'vertical';
  /** Absent: every site. A link's: its sources' sites. */
  at?: string[] | undefined;
  after: string[];
  inputs: string[];
}

export { MIN_SECURE_SUM_SITES };

/**
 * Checks the cross-step rules above; `sites` are the sites known to take part, if known.
 * Returns every problem found (none: the chain is well formed).
 */
export function checkChainRules(steps: StepShape[], sites?: { list: string[]; path: string }): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const firstIndex = new Map<string, number>();
  steps.forEach((step, i) => {
    const earlier = firstIndex.get(step.id);
    if (earlier !== undefined) {
      problems.push({ path: `steps[${i}].id`, message: `"${step.id}" is already the id of steps[${earlier}]; give each step its own id.` });
    } else {
      firstIndex.set(step.id, i);
    }
  });

  const runsEverywhere = (step: StepShape) => step.kind === 'container'
    && (step.at === undefined || (sites !== undefined && sites.list.every((s) => step.at!.includes(s))));

  steps.forEach((step, i) => {
    const checkRef = (field: 'after' | 'inputs', ref: string, j: number) => {
      const path = `steps[${i}].${field}[${j}]`;
      const at = firstIndex.get(ref);
      if (ref === step.id && (at === undefined || at >= i)) {
        problems.push({ path, message: `names the step itself ("${ref}"); ${field} may only name earlier steps.` });
      } else if (at === undefined) {
        const known = steps.slice(0, i).map((s) => s.id);
        problems.push({ path, message: `names no step of this chain ("${ref}"); ${field} may only name earlier steps${known.length ? `: ${known.join(', ')}` : ', and this is the first step'}.` });
      } else if (at > i) {
        problems.push({ path, message: `names "${ref}", which comes later (steps[${at}]); ${field} may only name earlier steps. Move "${ref}" before "${step.id}".` });
      } else if (field === 'inputs' && steps[at]!.kind === 'link') {
        problems.push({ path, message: `names "${ref}", a link: its messages belong to its own protocol. Run after it (after: [${ref}]) and read <${ref}>.rows.csv from the run volume instead.` });
      } else if (field === 'inputs' && steps[at]!.kind !== 'container') {
        problems.push({ path, message: `names "${ref}", a secure sum: its total is sealed for the requester, not sent to other steps. Name a container step, or drop it from inputs.` });
      }
    };
    step.after.forEach((ref, j) => checkRef('after', ref, j));
    step.inputs.forEach((ref, j) => checkRef('inputs', ref, j));

    if (step.kind === 'secure-sum') {
      const feeders = step.after.map((ref) => steps[firstIndex.get(ref) ?? -1]).filter((s): s is StepShape => s !== undefined && firstIndex.get(s.id)! < i);
      if (!feeders.some(runsEverywhere)) {
        problems.push({ path: `steps[${i}].after`, message: 'must name an earlier container step that runs at every site (at: all), the one that writes the values file: every site adds its own values in.' });
      }
    }
    if (sites !== undefined && step.at !== undefined) {
      step.at.forEach((site, j) => {
        if (!sites.list.includes(site)) {
          problems.push({ path: step.kind === 'link' ? `steps[${i}].link.sources[${j}].at` : `steps[${i}].at[${j}]`, message: `"${site}" is not among the sites taking part (${sites.path}: ${sites.list.join(', ')}). Add it there, or run the step elsewhere.` });
        }
      });
    }
  });

  // A vertical step's products need a dealer that holds neither column: three sites as well.
  const secureSum = steps.find((s) => s.kind !== 'container');
  if (sites !== undefined && secureSum !== undefined && sites.list.length < MIN_SECURE_SUM_SITES) {
    problems.push({ path: sites.path, message: secureSum.kind === 'vertical'
      ? `lists ${sites.list.length} site(s), but step "${secureSum.id}" is a vertical analysis, which needs at least ${MIN_SECURE_SUM_SITES}: a product of two sites' columns needs a third, holding neither, as its dealer. Add sites, or drop the step.`
      : `lists ${sites.list.length} site(s), but step "${secureSum.id}" is a secure sum, which needs at least ${MIN_SECURE_SUM_SITES}: with fewer, a site could learn another's values from the total. Add sites, or drop the secure sum.` });
  }
  return problems;
}
