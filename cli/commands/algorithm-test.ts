/**
 * `parley algorithm test <dir>`: builds the algorithm and runs it once under the full sandbox
 * with a local node socket — no Temporal, no keys — and prints what it sent, its output and its
 * log. A failure reads as it would at a site (the same error), with the lines a site seals shown
 * to the author, whose own data it ran on.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ManifestError, loadManifest } from '../../algorithms/algorithm-manifest.ts';
import { checkArgs } from '../../algorithms/args-schema.ts';
import { buildAlgorithm } from '../../algorithms/build-algorithm.ts';
import { ensureDebootstrap } from '../../provision/debootstrap.ts';
import { ensureDockerEngine } from '../../provision/docker-engine.ts';
import { runAlgorithmLocally } from '../../algorithms/run-locally.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { DATASET_NAME, isOrgId } from '../../common/ids.ts';
import { UsageError, parseUsage } from '../lib/command.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley algorithm test <dir> [--dataset NAME=FILE …] [--args JSON] [--input FILE …]',
  '                             [--org ORG] [--participants A,B,…] [--min-rows N] [--base IMAGE] [--json]',
  '',
  'Builds the algorithm in <dir> (as `parley algorithm build`) and runs it once, here, exactly as a',
  'site runs a step: no network, read-only root, non-root user, limits, a fresh run volume, the',
  'datasets read-only under /data, the inputs opened under /run/parley/input, the node socket. No',
  'Temporal, no keys. Prints what it sent, its output, the cohorts it reported, the files it left in',
  'the run volume and its log. Args',
  'that break the manifest\'s schema are refused before anything runs (exit 2).',
  '',
  '  --dataset NAME=FILE   mount FILE (or a directory) as dataset NAME (repeatable)',
  '  --args JSON           the step\'s args (default {})',
  '  --input FILE          a JSON file given as an opened input, in order (repeatable)',
  '  --org ORG             the site it runs at (default local)',
  '  --participants LIST   the run\'s participants (default: ORG); it may send to the others',
  '  --min-rows N          the site\'s disclosure threshold (default 10)',
  '  --base IMAGE          build FROM this image (default: PARLEY_BASE_IMAGE, else Parley\'s own)',
  '  --json                print one JSON line: {ok, image, digest, exitCode, messages, output, cohorts, volume, log, durationMs, failure?}',
].join('\n');

function parseDatasets(given: string[]): Record<string, string> {
  const datasets: Record<string, string> = {};
  for (const pair of given) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    if (at < 1 || at === pair.length - 1) throw new UsageError(`--dataset takes NAME=FILE, e.g. patients=samples/patients.csv; got "${pair}".`);
    if (!DATASET_NAME.test(name)) throw new UsageError(`--dataset: "${name}" is not a dataset name (one path segment of letters, digits, ".", "_" or "-").`);
    datasets[name] = resolve(pair.slice(at + 1));
  }
  return datasets;
}

export const algorithmTest: Verb = {
  verb: 'test',
  summary: 'run an algorithm once, here, under the full sandbox',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseUsage({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        dataset: { type: 'string', multiple: true },
        args: { type: 'string' },
        input: { type: 'string', multiple: true },
        org: { type: 'string' },
        participants: { type: 'string' },
        'min-rows': { type: 'string' },
        base: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    if (positionals[0] !== 'test') throw new UsageError('missing "test".');
    if (positionals.length !== 2) throw new UsageError(positionals.length < 2 ? 'missing <dir>.' : `unexpected argument "${positionals[2]}".`);
    const dir = positionals[1]!;
    let args: unknown = {};
    if (values.args !== undefined) {
      try {
        args = JSON.parse(values.args);
      } catch {
        throw new UsageError('--args is not JSON; give an object, e.g. --args \'{"column": "lab_value"}\'.');
      }
    }
    const org = values.org ?? 'local';
    const participants = values.participants?.split(',').map((p) => p.trim()).filter(Boolean) ?? [org];
    for (const p of [org, ...participants]) if (!isOrgId(p)) throw new UsageError(`"${p}" is not an organisation id (lowercase letters, digits and "-").`);
    if (!participants.includes(org)) throw new UsageError(`--participants must include the site it runs at ("${org}").`);
    const minRows = values['min-rows'] === undefined ? undefined : Number(values['min-rows']);
    if (minRows !== undefined && (!Number.isInteger(minRows) || minRows < 1)) throw new UsageError('--min-rows must be a whole number of at least 1.');
    const datasets = parseDatasets(values.dataset ?? []);

    // Refused before anything is built or run: the same check `parley chain validate` makes.
    let manifest;
    try {
      manifest = await loadManifest(dir);
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err;
      io.err(err.message);
      return 2;
    }
    const problems = checkArgs(manifest.args, args);
    if (problems.length > 0) {
      for (const p of problems) io.err(`--args: ${p.path === '' ? '' : `${p.path}: `}${p.message}`);
      io.err(`${problems.length} problem(s) with --args: they break the args schema in ${dir}/parley-algorithm.yaml. Nothing was run.`);
      return 2;
    }
    for (const [name, path] of Object.entries(datasets)) {
      await stat(path).catch(() => {
        throw new ParleyError(ErrorCode.InvalidInput, `Dataset ${name}: ${path} does not exist. Give an existing file or directory (--dataset ${name}=FILE).`, { dataset: name });
      });
    }

    const docker = await ensureDockerEngine((line) => io.err(line));
    const baseImage = values.base ?? (io.env.PARLEY_BASE_IMAGE || undefined);
    const image = await buildAlgorithm(docker, dir, { onProgress: (line) => io.err(line), beforePythonBase: async () => void (await ensureDebootstrap((line) => io.err(line))), ...(baseImage ? { baseImage } : {}) });
    const ran = await runAlgorithmLocally(docker, {
      image: image.digest,
      datasets,
      args,
      inputFiles: values.input ?? [],
      org,
      participants,
      ...(minRows !== undefined ? { minRows } : {}),
      signal: io.signal,
    });
    const cohorts = ran.cohorts.map((c) => ({ dataset: c.dataset, rows: c.rows.length }));
    if (values.json) {
      io.out(
        JSON.stringify({
          ok: ran.failure === undefined,
          image: image.ref,
          digest: image.digest,
          exitCode: ran.exitCode,
          messages: ran.messages,
          output: ran.output ?? null,
          cohorts,
          volume: ran.volume,
          log: ran.logTail,
          durationMs: ran.durationMs,
          ...(ran.failure ? { failure: { code: ran.failure.code, message: ran.failure.message } } : {}),
        }),
      );
      return ran.failure ? 1 : 0;
    }
    io.out(`Ran ${image.ref} (${image.digest.slice(0, 19)}…) at "${org}" in ${ran.durationMs} ms: exit code ${ran.exitCode}.`);
    io.out(ran.messages.length === 0 ? 'Sent: nothing' : 'Sent:');
    for (const m of ran.messages) io.out(`  → ${m.to}: ${JSON.stringify(m.content)}`);
    io.out(ran.output === undefined ? 'Output: none' : `Output: ${JSON.stringify(ran.output)}`);
    if (cohorts.length > 0) io.out(`Cohorts: ${cohorts.map((c) => `${c.dataset} (${c.rows} rows)`).join(', ')}`);
    io.out(ran.volume.length === 0 ? 'Run volume: empty' : 'Run volume (what a later step here would find):');
    for (const f of ran.volume) io.out(`  ${f.file} (${f.bytes} bytes)${f.text !== undefined && f.bytes <= 2000 ? `: ${f.text.trimEnd()}` : ''}`);
    io.out(ran.logTail.length === 0 ? 'Log: empty' : 'Log:');
    for (const line of ran.logTail) io.out(`  | ${line}`);
    if (ran.failure) {
      // At a site the lines after the first are sealed for its operator; here the author is the operator.
      io.err(`parley algorithm test: ${ran.failure.message}`);
      return 1;
    }
    return 0;
  },
};
