/**
 * The routing of the `link` step's multi-party Diffie–Hellman PSI (algorithms/link/main.js has
 * the protocol and its papers): which site runs which round, with which lists, and where each
 * list goes next. Pure and deterministic, so the chain workflow (which runs it) and every site
 * (which recomputes the step it is asked from its signed manifest, activities/check-step.ts)
 * derive the same plan from the step's `sources` alone.
 *
 * With C = sources[0] (the comparer) and S1…Sm the others in `sources` order:
 * - round 0, `blind`, at every site: its own list, hashed, shuffled and blinded with its key;
 *   Si's list goes to the next non-C site in ring order, C's to S1;
 * - rounds 1…m, `pass`: in round r, Sj applies its key to the list of S(j−r) (ring order among
 *   S1…Sm) and, when j = r, to C's list. A non-C list leaves its last non-C site for C; C's list
 *   leaves Sm (round m), which shuffles it first, for C;
 * - round m+1, `compare`, at C: applies its key last to the others' lists, intersects, and sends
 *   each Si its answer and Sm C's answer;
 * - round m+2, `write`, at every Si (Sm also unshuffles C's answer and sends it to C);
 * - round m+3, `write`, at C.
 * No site ever holds two lists blinded by the same set of keys: C's list carries C's key, the
 * others' lists do not until C applies it, and only C does.
 */
import type { LinkStep } from './chain.ts';
import type { OrgId } from './ids.ts';

/** One list's next hop from a step: whose list it is, where it goes, whether to shuffle it first. */
export interface LinkHop {
  origin: OrgId;
  to: OrgId;
  shuffle?: true;
}

export type LinkRole = 'blind' | 'pass' | 'compare' | 'write';

/** One step of the plan at one site. */
export interface LinkCall {
  org: OrgId;
  round: number;
  role: LinkRole;
  /** `<prefix>link.<round>.<role>`. */
  step: string;
  /** The lists (or answers) this step sends on: one message each. */
  hops: LinkHop[];
  /** The steps whose messages to this site it reads: one entry per message, so a pair may repeat. */
  inputs: Array<{ fromStep: string; from: OrgId }>;
  /** Blind and write read the site's dataset; the other roles see ciphertext only. */
  readsDataset: boolean;
  /** The plan is done with this site after this step. */
  last: boolean;
}

/** Every step of the plan, round by round (a round's calls may run in parallel). */
export function linkPlan(sources: readonly OrgId[], prefix: string): LinkCall[][] {
  if (sources.length < 2 || new Set(sources).size !== sources.length) throw new TypeError('A link needs at least two distinct sources.');
  const c = sources[0]!;
  const s = sources.slice(1);
  const m = s.length;
  const name = (round: number, role: LinkRole) => `${prefix}link.${round}.${role}`;
  /** The non-C site holding Si's list (i 0-based) in round r < m. */
  const holder = (i: number, r: number) => s[(i + r) % m]!;
  const rounds: LinkCall[][] = [];
  const stepOf = new Map<string, string>();
  const call = (org: OrgId, round: number, role: LinkRole, hops: LinkHop[], inputs: Array<{ fromStep: string; from: OrgId }>, readsDataset: boolean, last: boolean): LinkCall => {
    const step = name(round, role);
    stepOf.set(`${round}\u0000${org}`, step);
    return { org, round, role, step, hops, inputs, readsDataset, last };
  };

  // Round 0: every site's own list.
  rounds.push(sources.map((org, k) => {
    const to = k === 0 ? s[0]! : m === 1 ? c : holder(k - 1, 1);
    return call(org, 0, 'blind', [{ origin: org, to }], [], true, false);
  }));
  // Rounds 1…m.
  for (let r = 1; r <= m; r++) {
    const calls: LinkCall[] = [];
    for (const [j, org] of s.entries()) {
      const hops: LinkHop[] = [];
      const inputs: Array<{ fromStep: string; from: OrgId }> = [];
      if (r < m) {
        const i = (j - r + m * r) % m;
        const previous = holder(i, r - 1);
        hops.push({ origin: s[i]!, to: r + 1 < m ? holder(i, r + 1) : c });
        inputs.push({ fromStep: stepOf.get(`${r - 1}\u0000${previous}`)!, from: previous });
      }
      if (j + 1 === r) {
        const from = r === 1 ? c : s[r - 2]!;
        hops.push(r === m ? { origin: c, to: c, shuffle: true } : { origin: c, to: s[r]! });
        inputs.push({ fromStep: stepOf.get(`${r - 1}\u0000${from}`)!, from });
      }
      if (hops.length > 0) calls.push(call(org, r, 'pass', hops, inputs, false, false));
    }
    rounds.push(calls);
  }
  // Round m+1: C compares. Si's list last left holder(i, m−1) (Si itself when m = 1); C's left Sm.
  const compareInputs = s.map((_, i) => {
    const from = holder(i, m - 1);
    return { fromStep: stepOf.get(`${m - 1}\u0000${from}`)!, from };
  });
  compareInputs.push({ fromStep: stepOf.get(`${m}\u0000${s[m - 1]!}`)!, from: s[m - 1]! });
  const compare = call(c, m + 1, 'compare', [...s.map((org) => ({ origin: org, to: org })), { origin: c, to: s[m - 1]! }], compareInputs, false, false);
  rounds.push([compare]);
  // Round m+2: every Si writes; Sm also passes C's answer back, unshuffled.
  rounds.push(s.map((org, i) => {
    const last = i === m - 1;
    const inputs = [{ fromStep: compare.step, from: c }, ...(last ? [{ fromStep: compare.step, from: c }] : [])];
    return call(org, m + 2, 'write', last ? [{ origin: c, to: c }] : [], inputs, true, true);
  }));
  rounds.push([call(c, m + 3, 'write', [], [{ fromStep: name(m + 2, 'write'), from: s[m - 1]! }], true, true)]);
  return rounds;
}

/** The call of the plan with step id `step` at `org`, or undefined when the plan has none. */
export function linkCallFor(sources: readonly OrgId[], prefix: string, step: string, org: OrgId): LinkCall | undefined {
  return linkPlan(sources, prefix).flat().find((c) => c.step === step && c.org === org);
}

/**
 * The args of `call` for the link step `step`: the plan's role and hops, the step's id (the
 * volume files' prefix) and comparer, and — for the calls that read the dataset — the site's
 * dataset, the identifier column and its check (the NHS number's modulus 11).
 */
export function linkCallArgs(step: Pick<LinkStep, 'id' | 'identifier' | 'sources'>, call: LinkCall): { [key: string]: JsonArg } {
  const source = step.sources.find((s) => s.at === call.org);
  return {
    role: call.role, link: step.id, comparer: step.sources[0]!.at, hops: call.hops.map((h) => ({ ...h })),
    ...(call.readsDataset && source ? { dataset: source.dataset, identifier: step.identifier, check: 'nhs-mod11', ...(source.complete?.length ? { complete: [...source.complete] } : {}) } : {}),
  };
}

/** The datasets `call` mounts: the site's source dataset at blind and write, none otherwise. */
export function linkCallDatasets(step: Pick<LinkStep, 'sources'>, call: LinkCall): string[] {
  const source = step.sources.find((s) => s.at === call.org);
  return call.readsDataset && source ? [source.dataset] : [];
}

type JsonArg = string | number | boolean | null | JsonArg[] | { [key: string]: JsonArg };
