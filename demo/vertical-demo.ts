/**
 * `parley demo --vertical`: vertically partitioned data on one machine. A hospital, a lab and a
 * pharmacy each hold their own columns about partly the same people (examples/data/vertical);
 * the example chain examples/chains/vertical-regression.yaml links them privately and fits
 * HbA1c on age, sex, metformin and statin by secure products, and the researcher opens the
 * aggregate and solves the fit. Beside it, as a check only this demo can make (it holds every
 * site's file), the same regression by ordinary least squares on the plaintext join.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { OrgId } from '../common/ids.ts';
import type { VerticalStep } from '../common/vertical.ts';
import { joinedTruth, SOURCES, VERTICAL_DATA_DIR, type Source } from '../examples/data/vertical/generate.ts';
import { olsFit } from '../researcher/least-squares.ts';
import type { VerticalResult } from '../researcher/vertical.ts';
import type { DemoRunOptions } from './environment.ts';
import { readChainFile } from './example-chain.ts';
import { runChainDemo, type ChainDemoReport } from './run-chain-demo.ts';

/** The example vertical chain: link, then a regression across the three sites' columns. */
export const VERTICAL_CHAIN_FILE = fileURLToPath(new URL('../examples/chains/vertical-regression.yaml', import.meta.url));

type Regression = Extract<VerticalResult, { kind: 'regression' }>;

/** The plaintext fit: OLS on the joined rows that have every column the regression uses. */
export interface PlaintextFit {
  n: number;
  coefficients: number[];
  standardErrors: number[];
  r2: number;
}

export interface VerticalDemoReport {
  chain: ChainDemoReport;
  /** The secure fit, as the researcher decoded it. */
  regression: Regression;
  plaintext: PlaintextFit;
  /** The largest difference between the two fits' coefficients, standard errors and R². */
  maxDifference: number;
}

/** Each site is named after its source and holds it as the dataset of the same name. */
const SITES: OrgId[] = [...SOURCES];

/** Runs the vertical demo end to end: the chain through the API (by default), then the check. */
export async function runVerticalDemo(options: DemoRunOptions): Promise<VerticalDemoReport> {
  const file = await readChainFile(VERTICAL_CHAIN_FILE);
  const chain = await runChainDemo({
    ...options,
    chain: { file, fileName: VERTICAL_CHAIN_FILE },
    cast: { sites: SITES, files: new Map(SITES.map((org) => [org, { [org]: `${VERTICAL_DATA_DIR}${org}.csv` }])) },
  });
  const found = chain.outputs.flatMap((o) => (o.reading.kind === 'vertical' && o.reading.result.kind === 'regression' ? [o.reading.result] : []));
  if (found.length !== 1) throw new Error(`The chain ${VERTICAL_CHAIN_FILE} gave the researcher ${found.length} regressions; it should give one.`);
  const regression = found[0]!;
  // The regression and the link's sources as the chain file says them.
  const regressionStep = file.steps.flatMap((s) => ('vertical' in s && s.vertical.regression ? [s.vertical.regression] : []))[0]!;
  const plaintext = await plaintextFit(regressionStep, file.steps.flatMap((s) => ('link' in s ? s.link.sources : [])));
  const differences = [
    ...regression.coefficients.map((b, i) => Math.abs(b - plaintext.coefficients[i]!)),
    ...regression.standardErrors.map((se, i) => Math.abs(se - plaintext.standardErrors[i]!)),
    Math.abs(regression.r2 - plaintext.r2),
    Math.abs(regression.n - plaintext.n),
  ];
  return { chain, regression, plaintext, maxDifference: Math.max(...differences) };
}

/**
 * OLS on the plaintext join of the three files: the people all three hold (well-formed
 * identifiers), less those with an empty cell in a column the link's `complete` names — the
 * rows the link step leaves for the regression.
 */
export async function plaintextFit(regression: NonNullable<VerticalStep['regression']>, sources: ReadonlyArray<{ at: string; dataset: string; complete?: string[] }>): Promise<PlaintextFit> {
  const texts = Object.fromEntries(await Promise.all(SOURCES.map(async (s) => [s, await readFile(`${VERTICAL_DATA_DIR}${s}.csv`, 'utf8')] as const))) as Record<Source, string>;
  const headers = Object.fromEntries(SOURCES.map((s) => [s, texts[s].split('\n')[0]!.split(',').slice(1)])) as Record<Source, string[]>;
  const cell = (row: Partial<Record<Source, string[]>>, at: string, column: string) => row[at as Source]![headers[at as Source].indexOf(column)]!;
  const complete = (row: Partial<Record<Source, string[]>>) => sources.every((s) => (s.complete ?? []).every((c) => cell(row, s.at, c).trim() !== ''));
  const rows = joinedTruth(texts).map((r) => r.cells).filter(complete);
  const { outcome, features } = regression;
  const x = rows.map((r) => [1, ...features.map((f) => (f.equals !== undefined ? (cell(r, f.at, f.column) === f.equals ? 1 : 0) : Number(cell(r, f.at, f.column))))]);
  const y = rows.map((r) => Number(cell(r, outcome.at, outcome.column)));
  const fit = olsFit(x, y);
  return { n: rows.length, coefficients: fit.beta, standardErrors: fit.se, r2: fit.r2 };
}
