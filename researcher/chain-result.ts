/**
 * What a chain's opened outputs mean to the researcher: a secure sum over the analyse step's
 * values decodes to statistics (count, mean, variance, sd, histogram); one over a regression's
 * normal equations to its coefficients (researcher/normal-equations.ts); a secure sum over a count
 * to its total; a vertical step's aggregate to its crosstab, summary or regression
 * (researcher/vertical.ts); anything else is shown as the JSON its step wrote.
 */
import type { ChainSpec } from '../common/chain.ts';
import type { OrgId } from '../common/ids.ts';
import type { OpenedChainOutput } from './runs.ts';
import { decodeStatistics, type Statistics } from './statistics.ts';
import { solveNormalEquations, type RegressionFit } from './normal-equations.ts';
import { decodeVerticalResult, type VerticalResult } from './vertical.ts';

export type ChainOutputReading =
  | { kind: 'statistics'; statistics: Statistics }
  | { kind: 'total'; total: bigint }
  /** A secure sum of a regression's normal equations, solved; `content` is the total as opened. */
  | { kind: 'regression'; regression: RegressionFit; content: unknown }
  /** A vertical step's aggregate, decoded: a crosstab, a cohort summary or a regression with standard errors and R². */
  | { kind: 'vertical'; result: VerticalResult }
  | { kind: 'json'; content: unknown };

export interface ReadChainOutput {
  step: string;
  org: OrgId;
  reading: ChainOutputReading;
}

/** Reads each opened output in the light of the chain step that produced it. */
export function readChainOutputs(chain: ChainSpec, opened: OpenedChainOutput[]): ReadChainOutput[] {
  return opened.map((output) => {
    const step = chain.steps.find((s) => s.id === output.step);
    const content = output.content as { totals?: unknown; layout?: { kind?: unknown }; total?: unknown } | null;
    if (step?.kind === 'vertical' && content && typeof content === 'object') {
      return { step: output.step, org: output.org, reading: { kind: 'vertical', result: decodeVerticalResult(content as { totals: unknown; layout: unknown; modulus: unknown }) } };
    }
    if (step?.kind === 'secure-sum' && content && typeof content === 'object') {
      if (Array.isArray(content.totals) && content.layout?.kind === 'statistics') {
        return { step: output.step, org: output.org, reading: { kind: 'statistics', statistics: decodeStatistics(content as { totals: string[]; layout: unknown }, step.modulus) } };
      }
      if (Array.isArray(content.totals) && content.layout?.kind === 'normal-equations') {
        return { step: output.step, org: output.org, reading: { kind: 'regression', regression: solveNormalEquations(content as { totals: string[]; layout: unknown }, step.modulus), content: output.content } };
      }
      if (typeof content.total === 'string' && /^[0-9]+$/.test(content.total)) {
        return { step: output.step, org: output.org, reading: { kind: 'total', total: BigInt(content.total) } };
      }
    }
    return { step: output.step, org: output.org, reading: { kind: 'json', content: output.content } };
  });
}

/** The statistics of the chain's result, when exactly one output holds statistics. */
export function statisticsOf(outputs: ReadChainOutput[]): Statistics | undefined {
  const found = outputs.flatMap((o) => (o.reading.kind === 'statistics' ? [o.reading.statistics] : []));
  return found.length === 1 ? found[0] : undefined;
}
