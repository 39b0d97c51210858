/**
 * parseChainFile: a chain file's text → the validated file, or every problem with its line,
 * column and path. Three passes, each only once the one before found nothing: syntax (YAML or
 * JSON), the schema (chain-file-schema.ts, field by field), then the rules across steps
 * (chain-rules.ts).
 */
import { z } from 'zod';
import { checkChainRules } from './chain-rules.ts';
import type { StepShape } from './chain-rules.ts';
import { ChainFileSchema, ContainerStepFileSchema, LinkFileSchema, LinkStepFileSchema, MAX_STEPS, SecureSumFileSchema, SecureSumStepFileSchema, VerticalFileSchema, VerticalStepFileSchema, isLinkStepFile, isSecureSumStepFile, isVerticalStepFile } from './chain-file-schema.ts';
import type { ChainFile } from './chain-file-schema.ts';
import { chainErrorMap, describeIssue, formatPath, parsePath, unknownKeyMessage } from './describe-issue.ts';
import { formatOf, readSourceText } from './source-text.ts';
import type { SourceText } from './source-text.ts';

/** One problem of a chain file, where an editor can show it. `path` is '' for the file as a whole. */
export interface ChainFileProblem {
  path: string;
  line: number;
  column: number;
  message: string;
}

export type ParsedChainFile = { ok: true; file: ChainFile } | { ok: false; problems: ChainFileProblem[] };

// The top level with steps left for the per-step pass, which picks the right kind of step first
// and so says what is wrong with it (a union would only say "matches neither").
const TopLevelSchema = ChainFileSchema.extend({
  steps: z.array(z.unknown()).min(1, { error: 'must list at least one step' }).max(MAX_STEPS, { error: `must list at most ${MAX_STEPS} steps` }),
});

const keysOf = (schema: { shape: Record<string, unknown> }) => Object.keys(schema.shape);

interface Located {
  segments: PropertyKey[];
  key?: boolean;
  message: string;
}

function issuesOf(schema: z.ZodType, data: unknown, prefix: PropertyKey[], allowed: (path: PropertyKey[]) => readonly string[]): Located[] {
  const result = schema.safeParse(data, { error: chainErrorMap });
  if (result.success) return [];
  return result.error.issues.flatMap((issue) => {
    const unknownKey = issue.code === 'unrecognized_keys';
    return describeIssue(issue, allowed).map((p, i) => ({
      segments: [...prefix, ...issue.path, ...(unknownKey ? [(issue as { keys: string[] }).keys[i]!] : [])],
      key: unknownKey,
      message: p.message,
    }));
  });
}

function checkStep(step: unknown, i: number): Located[] {
  const at = ['steps', i];
  if (typeof step !== 'object' || step === null || Array.isArray(step)) {
    return [{ segments: at, message: 'must be a mapping with an id and either image or secureSum' }];
  }
  const hasImage = 'image' in step;
  const hasSum = 'secureSum' in step;
  if ('link' in step && !hasImage && !hasSum) {
    return issuesOf(LinkStepFileSchema, step, at, (path) => (path[0] === 'link' ? (path[1] === 'sources' ? ['at', 'dataset'] : keysOf(LinkFileSchema)) : keysOf(LinkStepFileSchema)));
  }
  if (hasImage && hasSum) {
    return [{ segments: [...at, 'secureSum'], key: true, message: 'a step has either image (it runs that image) or secureSum (it sums across sites), not both. Split it into two steps.' }];
  }
  if (!hasImage && !hasSum && !('vertical' in step)) {
    const misspelt = Object.keys(step).find((k) => !keysOf(ContainerStepFileSchema).includes(k) && !keysOf(SecureSumStepFileSchema).includes(k));
    const hint = misspelt === undefined ? '' : ` ${unknownKeyMessage(misspelt, ['image', 'secureSum'])}`;
    return [{ segments: at, message: `needs image (a container step, e.g. image: parley/analyse) or secureSum (a secure sum across sites), exactly one.${hint}` }];
  }
  if ('vertical' in step) {
    if (hasImage || hasSum) return [{ segments: [...at, 'vertical'], key: true, message: 'a step has one of image, secureSum or vertical. Split it into separate steps.' }];
    return issuesOf(VerticalStepFileSchema, step, at, (path) => (path[0] === 'vertical' ? keysOf(VerticalFileSchema) : keysOf(VerticalStepFileSchema)));
  }
  const schema = hasSum ? SecureSumStepFileSchema : ContainerStepFileSchema;
  return issuesOf(schema, step, at, (path) => (path[0] === 'secureSum' ? keysOf(SecureSumFileSchema) : keysOf(schema)));
}

function shapeOf(file: ChainFile): StepShape[] {
  return file.steps.map((step): StepShape => (isLinkStepFile(step)
    ? { id: step.id, kind: 'link', at: step.link.sources.map((s) => s.at), after: step.after ?? [], inputs: [] }
    : isVerticalStepFile(step)
    ? { id: step.id, kind: 'vertical', after: [...new Set([...(step.after ?? []), step.vertical.linked])], inputs: [] }
    : isSecureSumStepFile(step)
    ? { id: step.id, kind: 'secure-sum', after: step.after, inputs: [] }
    : { id: step.id, kind: 'container', at: step.at === 'all' ? undefined : step.at, after: step.after ?? [], inputs: step.inputs ?? [] }));
}

function place(source: SourceText, problems: Located[]): ChainFileProblem[] {
  return problems
    .map((p) => ({ path: formatPath(p.segments), ...source.locate(p.segments, { key: p.key ?? false }), message: p.message }))
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Parses and validates a chain file. YAML or JSON by `fileName`'s extension, else by content.
 * Never throws for a bad file: every problem comes back with its place and what to do.
 */
export function parseChainFile(text: string, fileName: string): ParsedChainFile {
  const read = readSourceText(text, formatOf(text, fileName));
  if (!read.ok) return { ok: false, problems: read.problems.map((p) => ({ path: '', ...p })) };
  const { source } = read;
  const data = source.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, problems: place(source, [{ segments: [], message: 'a chain file is a mapping: version: 1, name, steps (and optionally description and sites).' }]) };
  }

  const problems = issuesOf(TopLevelSchema, data, [], () => keysOf(ChainFileSchema));
  const steps = (data as { steps?: unknown }).steps;
  if (Array.isArray(steps)) steps.slice(0, MAX_STEPS).forEach((step, i) => problems.push(...checkStep(step, i)));
  if (problems.length > 0) return { ok: false, problems: place(source, problems) };

  const file = ChainFileSchema.parse(data);
  const rules = checkChainRules(shapeOf(file), file.sites ? { list: file.sites, path: 'sites' } : undefined);
  if (rules.length > 0) return { ok: false, problems: place(source, rules.map((p) => ({ segments: parsePath(p.path), message: p.message }))) };
  return { ok: true, file };
}

/**
 * Where `path` (`steps[1].image`) is in a chain file's text, for problems found after parsing
 * (resolveChain's); undefined when the text does not parse.
 */
export function locateInChainFile(text: string, fileName: string, path: string): { line: number; column: number } | undefined {
  const read = readSourceText(text, formatOf(text, fileName));
  return read.ok ? read.source.locate(parsePath(path)) : undefined;
}

/** The file's step shapes, for checking it against the sites of a run (resolve-chain.ts). */
export { shapeOf as stepShapesOf };
