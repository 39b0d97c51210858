/**
 * `parley-algorithm.yaml`: what an algorithm's folder says about itself — its image name, its
 * language and entry point, the Debian packages a Python algorithm needs, the JSON Schema of its
 * args, and the datasets and run-volume files it reads and writes. Read with the chain file's
 * reader, so a problem is reported as `file:line:column: path: message` the same way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DATASET_NAME } from '../common/ids.ts';
import { formatPath } from '../chains/describe-issue.ts';
import { readSourceText } from '../chains/source-text.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { DEFAULT_ENTRY, type AlgorithmLanguage } from './algorithm-image.ts';
import { ANY_ARGS_SCHEMA, argsSchemaProblem } from './args-schema.ts';
import { DEBIAN_PACKAGE } from './python-base-image.ts';

/** The manifest's file name in an algorithm's folder. */
export const MANIFEST_FILE = 'parley-algorithm.yaml';

const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const ENTRY = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
const VOLUME_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const ManifestSchema = z.strictObject({
  name: z.string().regex(REPOSITORY, { error: 'must be a Docker repository name: lowercase letters, digits, ".", "_", "-", with "/" between parts (e.g. acme/logistic-step)' }),
  description: z.string().max(500).optional(),
  language: z.enum(['js', 'python'], { error: 'must be js or python' }),
  entry: z.string().regex(ENTRY, { error: 'must be a relative path inside the folder, e.g. main.py' }).optional(),
  packages: z.array(z.string().regex(DEBIAN_PACKAGE, { error: 'must be a Debian package name, e.g. python3-numpy' })).max(100).optional(),
  args: z.unknown().optional(),
  reads: z.array(z.string().regex(DATASET_NAME, { error: 'must be a dataset name (one path segment)' })).optional(),
  writes: z.array(z.string().regex(VOLUME_FILE, { error: 'must be a run-volume file name (one path segment)' })).optional(),
});

/** A manifest as validated, with its defaults filled in. */
export interface AlgorithmManifest {
  name: string;
  description?: string;
  language: AlgorithmLanguage;
  entry: string;
  /** Debian packages for a Python base (python3-minimal is always in it). */
  packages: string[];
  /** The JSON Schema of the step's args; `{type: object}` when the manifest gives none. */
  args: Record<string, unknown>;
  reads: string[];
  writes: string[];
}

export interface ManifestProblem {
  path: string;
  line: number;
  column: number;
  message: string;
}

export type ParsedManifest = { ok: true; manifest: AlgorithmManifest } | { ok: false; problems: ManifestProblem[] };

function isAbsent(data: unknown, key: PropertyKey): boolean {
  return typeof data !== 'object' || data === null || (data as Record<PropertyKey, unknown>)[key] === undefined;
}

/** Validates a manifest's text; every problem comes back with its place, none is thrown. */
export function parseManifest(text: string, fileName = MANIFEST_FILE): ParsedManifest {
  const read = readSourceText(text, fileName.endsWith('.json') ? 'json' : 'yaml');
  if (!read.ok) return { ok: false, problems: read.problems.map((p) => ({ path: '', ...p })) };
  const { source } = read;
  const at = (segments: PropertyKey[], message: string, key = false): ManifestProblem => ({ path: formatPath(segments), ...source.locate(segments, { key }), message });
  const parsed = ManifestSchema.safeParse(source.data);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => at([...issue.path, k], `is not a manifest field; the fields are ${Object.keys(ManifestSchema.shape).join(', ')}`, true))
          : [at(issue.path, issue.path.length === 1 && isAbsent(source.data, issue.path[0]!) ? 'is required' : issue.message)],
      ),
    };
  }
  const m = parsed.data;
  const problems: ManifestProblem[] = [];
  const args = m.args ?? ANY_ARGS_SCHEMA;
  const schemaProblem = argsSchemaProblem(args);
  if (schemaProblem) problems.push(at(['args'], schemaProblem));
  if (m.language === 'js' && (m.packages ?? []).length > 0) {
    problems.push(at(['packages'], 'lists Debian packages, which only a Python algorithm\'s base takes; a JavaScript algorithm runs on the Node base (bundle what it needs in its folder)'));
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    manifest: {
      name: m.name,
      ...(m.description !== undefined ? { description: m.description } : {}),
      language: m.language,
      entry: m.entry ?? DEFAULT_ENTRY[m.language],
      packages: m.packages ?? [],
      args: args as Record<string, unknown>,
      reads: m.reads ?? [],
      writes: m.writes ?? [],
    },
  };
}

/** Thrown when an algorithm's manifest does not validate; each problem is on its own line. */
export class ManifestError extends ParleyError {
  readonly problems: ManifestProblem[];
  constructor(readonly file: string, problems: ManifestProblem[]) {
    super(
      ErrorCode.InvalidInput,
      `${problems.map((p) => `${file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}\n` +
        `${problems.length} problem(s) in ${file}: fix them and build again (\`parley algorithm new\` writes a valid one to start from).`,
      { file },
    );
    this.name = 'ManifestError';
    this.problems = problems;
  }
}

/**
 * Reads `<dir>/parley-algorithm.yaml`. Throws ParleyError InvalidInput when it is missing, and
 * ManifestError (every problem with its line and column) when it does not validate.
 */
export async function loadManifest(dir: string): Promise<AlgorithmManifest> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ParleyError(
      ErrorCode.InvalidInput,
      `${dir} is not an algorithm's folder: it has no ${MANIFEST_FILE} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}). Create one with \`parley algorithm new ${dir} --lang python\`.`,
      { file },
    );
  }
  const parsed = parseManifest(text, file);
  if (!parsed.ok) throw new ManifestError(file, parsed.problems);
  return parsed.manifest;
}
