/**
 * The `vertical` chain step's analysis (common/vertical.ts), as zod schemas shared by the chain
 * file (chain-file-schema.ts) and the resolved spec (chain-spec-schema.ts): a crosstab, a cohort
 * summary or a regression over the rows an earlier link step left at every site, each column
 * named by the site that holds it (`at`) and its name there (`column`).
 */
import { z } from 'zod';
import { MAX_VERTICAL_DECIMALS } from '../common/vertical.ts';

const SITE = /^[a-z][a-z0-9-]{0,39}$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

const at = z.string().regex(SITE, { error: 'must be the organisation id of the site that holds the column' }).describe('The site holding the column.');
const column = z.string().regex(COLUMN, { error: 'must be a column name of the linked rows (letters, digits, "_", ".", "-")' }).describe('The column\'s name in the linked rows.');
const decimals = z.number().int({ error: 'must be a whole number' }).min(0).max(MAX_VERTICAL_DECIMALS, { error: `must be at most ${MAX_VERTICAL_DECIMALS}` })
  .describe('Digits kept after the decimal point (fixed point); default 0.');
const levels = z.array(z.string().min(1).max(64)).min(1, { error: 'must list at least one level' }).max(100)
  .refine((l) => new Set(l).size === l.length, { error: 'must not list a level twice' })
  .describe('The categories to count; a row with any other value counts in none.');

const categorical = z.strictObject({ at, column, levels });
export const VerticalCrosstabSchema = z.strictObject({ rows: categorical, columns: categorical })
  .describe('A contingency table of a categorical column at one site against one at another; small cells are suppressed.');

const condition = z.strictObject({
  at, column,
  equals: z.string().max(64).optional().describe('Rows whose value is exactly this.'),
  atLeast: z.number().optional().describe('Rows whose value is at least this.'),
  atMost: z.number().optional().describe('Rows whose value is at most this.'),
}).refine((c) => c.equals !== undefined || c.atLeast !== undefined || c.atMost !== undefined, { error: 'must say equals, atLeast or atMost' });

export const VerticalSummarySchema = z.strictObject({
  value: z.strictObject({ at, column, decimals: decimals.optional() }),
  where: z.array(condition).max(16).describe('The cohort: rows meeting every condition (at most two sites besides the value\'s).'),
}).describe('Count, mean and variance of a numeric column at one site within a cohort defined at other sites.');

export const VerticalRegressionSchema = z.strictObject({
  outcome: z.strictObject({ at, column, decimals: decimals.optional() }),
  features: z.array(z.strictObject({
    at, column, decimals: decimals.optional(),
    equals: z.string().max(64).optional().describe('A 0/1 indicator of this value, instead of the number.'),
  })).min(1).max(32),
}).describe('Linear regression with features spread over sites: XᵀX, Xᵀy, yᵀy and n reach the researcher.');

/** The analysis fields, exactly one of which a vertical step has. */
export const verticalAnalysisFields = {
  crosstab: VerticalCrosstabSchema.optional(),
  summary: VerticalSummarySchema.optional(),
  regression: VerticalRegressionSchema.optional(),
};

/** Exactly one analysis. */
export const oneAnalysis = (v: { crosstab?: unknown; summary?: unknown; regression?: unknown }) => [v.crosstab, v.summary, v.regression].filter((x) => x !== undefined).length === 1;
export const ONE_ANALYSIS = 'must have exactly one of crosstab, summary or regression';
