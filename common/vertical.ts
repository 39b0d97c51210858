/**
 * Vertical analyses over linked rows (issue 15): the chain step and the protocol's plan — which
 * site deals, masks, shares and releases what, at which step. Pure and deterministic: the
 * coordinator (workflows/protocols/vertical.ts) runs the plan, every site (activities/check-step.ts)
 * recomputes it from the signed manifest, and the image (algorithms/vertical) follows its own part.
 *
 * The protocol: every figure the researcher receives is a sum of products of columns held at
 * different sites. A product of two sites' matrices uses a third participant, which holds neither,
 * as a commodity server (Du & Atallah, "Privacy-preserving cooperative statistical analysis",
 * ACSAC 2001; Beaver, CRYPTO 1991 for the triples; Dowsley et al., ePrint 2010/289 for its
 * security): it deals correlated randomness, the holders exchange their matrices masked by it,
 * and each ends with an additive share (mod M) of the product. A product over three sites (a
 * cohort: value × filter × filter) is two rounds: an elementwise product of the two filters, then
 * two scalar products of the value with each filter-holder's share. Every site's shares go to one
 * aggregator (the first participant), which adds them and releases only the aggregate.
 */
import type { OrgId } from './ids.ts';
import type { PinnedImage } from './chain.ts';

/** A column of one site's linked rows. */
export interface VerticalColumn {
  at: OrgId;
  column: string;
}

/** A numeric column in fixed point: `decimals` digits kept (rounded half away from zero). */
export interface VerticalValue extends VerticalColumn {
  decimals?: number;
}

/** A cohort condition on one site's column. */
export interface VerticalCondition extends VerticalColumn {
  equals?: string;
  atLeast?: number;
  atMost?: number;
}

/** A regression feature: a numeric column, or `equals` for a 0/1 indicator. */
export interface VerticalFeature extends VerticalColumn {
  decimals?: number;
  equals?: string;
}

export interface VerticalCrosstab {
  rows: VerticalColumn & { levels: string[] };
  columns: VerticalColumn & { levels: string[] };
}

export interface VerticalSummary {
  value: VerticalValue;
  where: VerticalCondition[];
}

export interface VerticalRegression {
  outcome: VerticalValue;
  features: VerticalFeature[];
}

/** A secure analysis over the rows an earlier `link` step (`linked`) left at every site. */
export interface VerticalStep {
  kind: 'vertical';
  id: string;
  /** The link step whose `<linked>.rows.csv` and `<linked>.json` every holder reads. */
  linked: string;
  image: PinnedImage;
  /** Public modulus of the shares, decimal. */
  modulus: string;
  crosstab?: VerticalCrosstab;
  summary?: VerticalSummary;
  regression?: VerticalRegression;
  after: string[];
  timeoutMs?: number;
}

/** 2^64: far above any figure a 64-bit-safe analysis produces, and public. */
export const VERTICAL_MODULUS = (1n << 64n).toString();
/** The most digits a fixed-point column keeps. */
export const MAX_VERTICAL_DECIMALS = 6;

/** A factor of a term: a numeric column (to a power), or a 0/1 condition. */
export type Factor =
  | { column: string; decimals: number; power: number }
  | { column: string; equals: string }
  | { column: string; atLeast?: number; atMost?: number };

/** One column a holder derives from its rows: Π factors × 10^shift (an intercept has no factors). */
export interface Term {
  name: string;
  factors: Factor[];
  shift: number;
}

/**
 * A product of two sites' matrices (n rows each): `inner` gives aᵀb (|a| × |b|), `elementwise`
 * gives a ∘ b (n × |a|, |a| = |b|), `local` is aᵀb at one site. A matrix is a site's `terms` or
 * the share an earlier elementwise product left there (its id).
 */
export interface Product {
  id: string;
  kind: 'inner' | 'elementwise' | 'local';
  round: number;
  a: OrgId;
  aMatrix: string;
  b: OrgId;
  bMatrix: string;
  /** The commodity server: a participant holding neither matrix. Absent for `local`. */
  dealer?: OrgId;
}

/** One released figure: the sum of these products' entries (product id, row, column). */
export type Figure = Array<[string, number, number]>;

export interface VerticalPlan {
  /** Every holder's derived columns, by site. */
  terms: Record<OrgId, Term[]>;
  products: Product[];
  figures: Figure[];
  /** What the aggregator releases besides the figures (names, levels, decimals). */
  layout: Record<string, unknown>;
  rounds: number;
  aggregator: OrgId;
}

/** The roles of a vertical step, in the order they run. */
export type VerticalRole = 'deal' | 'mask' | 'share' | 'release';

/** One step of the plan at one site, as the site checks it and the coordinator runs it. */
export interface VerticalSiteStep {
  step: string;
  org: OrgId;
  role: VerticalRole;
  /** The step's index k in `<id>.vertical.<k>.<role>`. */
  index: number;
  inputs: Array<{ fromStep: string; from: OrgId }>;
  sendTo: OrgId[];
  mayOutput: boolean;
}

function bad(message: string): never {
  throw new TypeError(message);
}

const shiftOf = (decimals: number | undefined) => decimals ?? 0;

/** The third party for a product of `a` and `b`: the first participant that is neither. */
function dealerFor(participants: OrgId[], a: OrgId, b: OrgId, not: OrgId[] = []): OrgId {
  const dealer = participants.find((p) => p !== a && p !== b && !not.includes(p));
  if (!dealer) bad(`A product of columns at "${a}" and "${b}" needs a third participant, holding neither, as its dealer.`);
  return dealer;
}

/** Products of every pair of sites' `terms`, local ones at each site, for a Gram matrix. */
function gramProducts(sites: OrgId[], participants: OrgId[]): Product[] {
  const products: Product[] = [];
  sites.forEach((a, i) => {
    products.push({ id: `${a}.${a}`, kind: 'local', round: 1, a, aMatrix: 'terms', b: a, bMatrix: 'terms' });
    for (const b of sites.slice(i + 1)) products.push({ id: `${a}.${b}`, kind: 'inner', round: 1, a, aMatrix: 'terms', b, bMatrix: 'terms', dealer: dealerFor(participants, a, b) });
  });
  return products;
}

/**
 * The plan of `step` over `participants`: derived columns, products, rounds and figures.
 * Throws TypeError for a step that cannot run (a column at a non-participant, no dealer).
 */
export function verticalPlan(step: VerticalStep, participants: OrgId[]): VerticalPlan {
  const aggregator = participants[0]!;
  const columns = [step.crosstab?.rows, step.crosstab?.columns, step.summary?.value, ...(step.summary?.where ?? []), step.regression?.outcome, ...(step.regression?.features ?? [])];
  for (const c of columns) if (c && !participants.includes(c.at)) bad(`Column "${c.column}" is at "${c.at}", which is not a participant of this run.`);

  if (step.crosstab) {
    const { rows, columns: cols } = step.crosstab;
    const indicators = (c: VerticalColumn & { levels: string[] }) => c.levels.map((level) => ({ name: `${c.column}=${level}`, factors: [{ column: c.column, equals: level }], shift: 0 }));
    const a = rows.at;
    const b = cols.at;
    const terms: Record<OrgId, Term[]> = a === b ? { [a]: [] } : { [a]: indicators(rows), [b]: indicators(cols) };
    let product: Product;
    if (a === b) {
      // One site holds both: its own product of the two indicator sets, shared with nobody.
      terms[a] = [...indicators(rows), ...indicators(cols)];
      product = { id: `${a}.${a}`, kind: 'local', round: 1, a, aMatrix: 'terms', b: a, bMatrix: 'terms' };
    } else {
      product = { id: `${a}.${b}`, kind: 'inner', round: 1, a, aMatrix: 'terms', b, bMatrix: 'terms', dealer: dealerFor(participants, a, b) };
    }
    const offset = a === b ? rows.levels.length : 0;
    const figures: Figure[] = rows.levels.flatMap((_, i) => cols.levels.map((__, j): Figure => [[product.id, i, offset + j]]));
    return { terms, products: [product], figures, rounds: 1, aggregator, layout: { kind: 'crosstab', rows: { column: rows.column, levels: rows.levels }, columns: { column: cols.column, levels: cols.levels } } };
  }

  if (step.summary) {
    const { value, where } = step.summary;
    const d = shiftOf(value.decimals);
    const v = value.at;
    const condition = (c: VerticalCondition): Factor => (c.equals !== undefined
      ? { column: c.column, equals: c.equals }
      : { column: c.column, ...(c.atLeast !== undefined ? { atLeast: c.atLeast } : {}), ...(c.atMost !== undefined ? { atMost: c.atMost } : {}) });
    const own = where.filter((c) => c.at === v).map(condition);
    const filterSites = [...new Set(where.filter((c) => c.at !== v).map((c) => c.at))];
    if (filterSites.length > 2) bad('A cohort\'s conditions may span at most two sites besides the value\'s.');
    const terms: Record<OrgId, Term[]> = {
      [v]: [0, 1, 2].map((power) => ({
        name: ['count', 'sum', 'sumOfSquares'][power]!,
        factors: [...own, ...(power > 0 ? [{ column: value.column, decimals: d, power }] : [])],
        shift: 0,
      })),
    };
    for (const f of filterSites) terms[f] = [{ name: 'in', factors: where.filter((c) => c.at === f).map(condition), shift: 0 }];
    const layout = { kind: 'vertical-summary', column: value.column, decimals: d };
    const figure = (products: string[]) => [0, 1, 2].map((i): Figure => products.map((id) => [id, i, 0]));
    if (filterSites.length === 0) {
      terms[v] = [...terms[v]!, { name: 'one', factors: [], shift: 0 }];
      const product: Product = { id: `${v}.${v}`, kind: 'local', round: 1, a: v, aMatrix: 'terms', b: v, bMatrix: 'terms' };
      return { terms, products: [product], figures: [0, 1, 2].map((i): Figure => [[product.id, i, 3]]), rounds: 1, aggregator, layout };
    }
    if (filterSites.length === 1) {
      const f = filterSites[0]!;
      const product: Product = { id: `${v}.${f}`, kind: 'inner', round: 1, a: v, aMatrix: 'terms', b: f, bMatrix: 'terms', dealer: dealerFor(participants, v, f) };
      return { terms, products: [product], figures: figure([product.id]), rounds: 1, aggregator, layout };
    }
    const [f1, f2] = filterSites as [OrgId, OrgId];
    // Round 1: shares of the two filters' elementwise product, dealt by the value's site.
    const joint: Product = { id: `${f1}.${f2}`, kind: 'elementwise', round: 1, a: f1, aMatrix: 'terms', b: f2, bMatrix: 'terms', dealer: dealerFor(participants, f1, f2) };
    // Round 2: the value's columns with each filter-holder's share; the other filter-holder deals.
    const withF1: Product = { id: `${v}.${f1}`, kind: 'inner', round: 2, a: v, aMatrix: 'terms', b: f1, bMatrix: joint.id, dealer: f2 };
    const withF2: Product = { id: `${v}.${f2}`, kind: 'inner', round: 2, a: v, aMatrix: 'terms', b: f2, bMatrix: joint.id, dealer: f1 };
    return { terms, products: [joint, withF1, withF2], figures: figure([withF1.id, withF2.id]), rounds: 2, aggregator, layout };
  }

  if (step.regression) {
    const { outcome, features } = step.regression;
    // One scale for every column (intercept included), so each entry of [X y]ᵀ[X y] is × 10^(2D).
    const D = Math.max(shiftOf(outcome.decimals), ...features.map((f) => (f.equals !== undefined ? 0 : shiftOf(f.decimals))));
    const names = ['intercept', ...features.map((f) => (f.equals !== undefined ? `${f.column}=${f.equals}` : f.column))];
    const featureTerm = (f: VerticalFeature, name: string): Term => (f.equals !== undefined
      ? { name, factors: [{ column: f.column, equals: f.equals }], shift: D }
      : { name, factors: [{ column: f.column, decimals: shiftOf(f.decimals), power: 1 }], shift: D - shiftOf(f.decimals) });
    // The intercept sits with the outcome: every other site's columns meet it there.
    const all: Array<{ at: OrgId; term: Term }> = [
      { at: outcome.at, term: { name: 'intercept', factors: [], shift: D } },
      ...features.map((f, i) => ({ at: f.at, term: featureTerm(f, names[i + 1]!) })),
      { at: outcome.at, term: { name: 'outcome', factors: [{ column: outcome.column, decimals: shiftOf(outcome.decimals), power: 1 }], shift: D - shiftOf(outcome.decimals) } },
    ];
    const sites = participants.filter((p) => all.some((t) => t.at === p));
    const terms: Record<OrgId, Term[]> = Object.fromEntries(sites.map((s) => [s, all.filter((t) => t.at === s).map((t) => t.term)]));
    const products = gramProducts(sites, participants);
    // Where the k-th of `all` sits: (site, index in its terms).
    const where = all.map((t) => [t.at, terms[t.at]!.indexOf(t.term)] as const);
    const entry = (i: number, j: number): Figure => {
      const [si, ii] = where[i]!;
      const [sj, jj] = where[j]!;
      const a = sites.indexOf(si) <= sites.indexOf(sj);
      return a ? [[`${si}.${sj}`, ii, jj]] : [[`${sj}.${si}`, jj, ii]];
    };
    const p = names.length;
    const y = all.length - 1;
    const figures: Figure[] = [entry(0, 0), entry(y, y), ...names.map((_, i) => entry(i, y))];
    for (let i = 0; i < p; i++) for (let j = i; j < p; j++) figures.push(entry(i, j));
    const indicators = features.flatMap((f, i) => (f.equals !== undefined ? [i + 1] : []));
    return { terms, products, figures, rounds: 1, aggregator, layout: { kind: 'normal-equations', terms: names, indicators, decimals: 2 * D, outcome: outcome.column } };
  }
  return bad('A vertical step needs one of crosstab, summary or regression.');
}

/** The step id of the plan's k-th step. */
export function verticalStepId(stepId: string, index: number, role: VerticalRole): string {
  return `${stepId}.vertical.${index}.${role}`;
}

/**
 * Every step of the plan at every site, in order (index, then participants' order): deal at the
 * dealers (0), a mask step per round at that round's holders (1..R), share at every holder
 * (R + 1), release at the aggregator (R + 2). A holder reads every deal addressed to it at its
 * first step; each later step reads the masked matrices its partners sent at the step before.
 */
export function verticalSteps(stepId: string, plan: VerticalPlan, participants: OrgId[]): VerticalSiteStep[] {
  const { products, rounds, aggregator } = plan;
  const id = (k: number, role: VerticalRole) => verticalStepId(stepId, k, role);
  const holders = participants.filter((p) => plan.terms[p] !== undefined);
  const steps: VerticalSiteStep[] = [];
  const dealt = (org: OrgId) => products.filter((p) => p.dealer === org);
  const dealers = participants.filter((p) => dealt(p).length > 0);
  for (const org of dealers) {
    const to = [...new Set(dealt(org).flatMap((p) => [p.a, p.b]))];
    steps.push({ step: id(0, 'deal'), org, role: 'deal', index: 0, inputs: [], sendTo: participants.filter((p) => to.includes(p)), mayOutput: false });
  }
  const partnersIn = (org: OrgId, round: number) => participants.filter((q) => products.some((p) => p.kind !== 'local' && p.round === round && ((p.a === org && p.b === q) || (p.b === org && p.a === q))));
  const stepAt = (k: number) => (k <= rounds ? 'mask' : 'share') as VerticalRole;
  const firstStep = (org: OrgId) => {
    for (let k = 1; k <= rounds; k++) if (partnersIn(org, k).length > 0) return k;
    return rounds + 1;
  };
  for (let k = 1; k <= rounds + 1; k++) {
    for (const org of holders) {
      const sendsMasks = k <= rounds && partnersIn(org, k).length > 0;
      if (k <= rounds && !sendsMasks) continue;
      const deals = k === firstStep(org) ? dealers.filter((d) => dealt(d).some((p) => p.a === org || p.b === org)).map((from) => ({ fromStep: id(0, 'deal'), from })) : [];
      const masks = k > 1 ? partnersIn(org, k - 1).map((from) => ({ fromStep: id(k - 1, 'mask'), from })) : [];
      const sendTo = sendsMasks ? partnersIn(org, k) : k === rounds + 1 && org !== aggregator ? [aggregator] : [];
      steps.push({ step: id(k, stepAt(k)), org, role: stepAt(k), index: k, inputs: [...deals, ...masks], sendTo, mayOutput: false });
    }
  }
  const shares = holders.filter((h) => h !== aggregator).map((from) => ({ fromStep: id(rounds + 1, 'share'), from }));
  steps.push({ step: id(rounds + 2, 'release'), org: aggregator, role: 'release', index: rounds + 2, inputs: shares, sendTo: [], mayOutput: true });
  return steps;
}

/** The arguments every step of the plan gets besides its role: the whole plan, the link, the modulus. */
export function verticalArgs(step: VerticalStep, plan: VerticalPlan): { [key: string]: unknown } {
  return { linked: step.linked, modulus: step.modulus, plan: plan as unknown as { [key: string]: unknown } };
}
