/**
 * `parley algorithm new / build / test` as a new user runs them, for both languages, on the real
 * Docker engine: scaffold, build (a rebuild is the same digest and no work), try it here under the
 * sandbox, then let the demo's sites allow it and run it in a chain. The refusals — a bad
 * manifest, args that break the schema, an algorithm that fails — are checked the same way.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registryPath } from '../../test/support/statistics-steps.ts';
import { lastJsonLine, parley, parleyProcess, PARLEY_BIN } from '../../test/support/parley-cli.ts';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'parley-algorithm-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The count and mean of a CSV column over the cells that hold a finite number, as the templates read it. */
function plainMean(csv: string, column: string): { count: number; mean: number } {
  const [header, ...lines] = csv.split(/\r?\n/).filter((l) => l !== '');
  const index = header!.split(',').indexOf(column);
  const xs = lines.map((l) => (l.split(',')[index] ?? '').trim()).filter((c) => c !== '').map(Number).filter(Number.isFinite);
  return { count: xs.length, mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

interface BuildLine {
  name: string;
  ref: string;
  digest: string;
  built: boolean;
}

interface TestLine {
  ok: boolean;
  digest: string;
  exitCode: number;
  messages: unknown[];
  output: { count: number; mean: number } | null;
  log: string[];
  failure?: { code: string; message: string };
}

const languages = [
  { lang: 'python', name: 'parley-test/own-python-mean', runTest: (dir: string) => ['python3', [join(dir, 'main.test.py')]] as const },
  { lang: 'js', name: 'parley-test/own-js-mean', runTest: (dir: string) => [process.execPath, ['--test', join(dir, 'main.test.mjs')]] as const },
] as const;

describe('parley algorithm', () => {
  const built: Record<string, BuildLine> = {};

  for (const { lang, name, runTest } of languages) {
    it(`scaffolds, builds and tests a ${lang} algorithm; a rebuild without changes is the same digest and no work`, async () => {
      const dir = join(scratch, `own-${lang}`);
      const created = await parley(['algorithm', 'new', dir, '--lang', lang, '--name', name, '--json']);
      expect(created.code, created.stderr).toBe(0);
      expect(lastJsonLine<{ files: string[] }>(created.stdout).files).toEqual(
        lang === 'python' ? ['main.py', 'main.test.py', 'parley-algorithm.yaml', 'samples/patients.csv'] : ['main.js', 'main.test.mjs', 'parley-algorithm.yaml', 'samples/patients.csv'],
      );

      const first = await parley(['algorithm', 'build', dir, '--json']);
      expect(first.code, first.stderr).toBe(0);
      const image = lastJsonLine<BuildLine>(first.stdout);
      expect(image.name).toBe(name);
      expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const again = await parley(['algorithm', 'build', dir, '--json']);
      expect(lastJsonLine<BuildLine>(again.stdout)).toEqual({ ...image, built: false, base: expect.any(String) });
      expect(again.stderr).toBe('');
      const labels = (await new Docker().getImage(image.digest).inspect()).Config.Labels;
      expect(JSON.parse(labels['parley.args-schema']!)).toMatchObject({ type: 'object', required: ['column'] });
      expect(labels['parley.language']).toBe(lang);
      built[lang] = image;

      const sample = join(dir, 'samples', 'patients.csv');
      const tried = await parley(['algorithm', 'test', dir, '--dataset', `patients=${sample}`, '--args', '{"column":"lab_value"}', '--json']);
      expect(tried.code, tried.stderr).toBe(0);
      const ran = lastJsonLine<TestLine>(tried.stdout);
      expect(ran.ok).toBe(true);
      expect(ran.digest).toBe(image.digest);
      const plain = plainMean(await readFile(sample, 'utf8'), 'lab_value');
      expect(ran.output!.count).toBe(plain.count);
      expect(ran.output!.mean).toBeCloseTo(plain.mean, 12);

      // The test the scaffold wrote passes as written, through the real `parley` command.
      const [command, argv] = runTest(dir);
      await expect(promisify(execFile)(command, [...argv], { env: { ...process.env, PARLEY: `${process.execPath} ${PARLEY_BIN}` } })).resolves.toBeDefined();
    }, 600_000);
  }

  it('refuses args that break the schema before anything is built or run, and a manifest whose schema is not one, at its line', async () => {
    const dir = join(scratch, 'refusals');
    await parley(['algorithm', 'new', dir, '--lang', 'python', '--name', 'parley-test/never-built']);
    const refused = await parley(['algorithm', 'test', dir, '--dataset', `patients=${join(dir, 'samples', 'patients.csv')}`, '--args', '{"colum":"lab_value"}']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n').slice(0, 3)).toEqual([
      '--args: column: is required',
      '--args: colum: is not an argument this algorithm takes',
      `2 problem(s) with --args: they break the args schema in ${dir}/parley-algorithm.yaml. Nothing was run.`,
    ]);
    await expect(new Docker().getImage('parley-test/never-built:latest').inspect()).rejects.toMatchObject({ statusCode: 404 });

    const manifest = join(dir, 'parley-algorithm.yaml');
    await writeFile(manifest, (await readFile(manifest, 'utf8')).replace('  type: object\n', '  type: objekt\n'));
    const bad = await parley(['algorithm', 'build', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(new RegExp(`^${manifest}:11:3: args: must describe an object`));
  });

  it('shows a failing algorithm\'s log to its author, failing as it would at a site', async () => {
    const dir = join(scratch, 'failing');
    await parley(['algorithm', 'new', dir, '--lang', 'python', '--name', 'parley-test/own-failing']);
    const sample = join(dir, 'samples', 'patients.csv');
    // Above the sample's 14 rows: the template refuses to release the aggregate.
    const ran = await parley(['algorithm', 'test', dir, '--dataset', `patients=${sample}`, '--args', '{"column":"lab_value"}', '--min-rows', '20']);
    expect(ran.code).toBe(1);
    expect(ran.stdout).toContain('Output: none');
    expect(ran.stdout).toContain("  | Too few rows with a value to release an aggregate (below the site's disclosure threshold).");
    expect(ran.stderr).toMatch(/(^|\n)parley algorithm test: Step "test" failed at site "local": its algorithm stopped with an error \(ERR_STEP_FAILED\)/);

    await writeFile(join(dir, 'main.py'), 'import parley\nraise RuntimeError("the model did not converge")\n');
    const crashed = await parley(['algorithm', 'test', dir, '--args', '{"column":"lab_value"}', '--json']);
    expect(crashed.code).toBe(1);
    const line = lastJsonLine<TestLine>(crashed.stdout);
    expect(line.failure?.code).toBe('ERR_STEP_FAILED');
    expect(line.log.at(-1)).toBe('RuntimeError: the model did not converge');
  }, 300_000);

  it('runs both built algorithms in a chain at the demo\'s sites, which allow them by name and digest', async () => {
    expect(Object.keys(built).sort(), 'the build tests above ran first').toEqual(['js', 'python']);
    const chain = join(scratch, 'own-algorithms.yaml');
    await writeFile(
      chain,
      [
        'version: 1',
        'name: own-algorithms',
        'steps:',
        ...languages.flatMap(({ lang, name }) => [`  - id: ${lang}-mean`, `    image: ${name}`, '    datasets: [patients]', '    args: { column: lab_value }']),
        '',
      ].join('\n'),
    );
    const validated = await parley(['chain', 'validate', chain]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stderr).toBe('');
    const broken = join(scratch, 'own-algorithms-bad.yaml');
    await writeFile(broken, (await readFile(chain, 'utf8')).replace('args: { column: lab_value }', 'args: { column: 3 }'));
    const refused = await parley(['chain', 'validate', broken]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${broken}:7:21: steps[0].args.column: Invalid input: expected string, received number (the args schema of parley-test/own-python-mean)`);

    const ran = await parleyProcess(['demo', '--chain', chain, '--json'], { env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress') } });
    expect(ran.code, ran.stderr).toBe(0);
    for (const { lang } of languages) {
      expect(ran.stderr).toContain(`The demo's sites allow the chain's own image ${built[lang]!.name}@${built[lang]!.digest}`);
    }
    const report = lastJsonLine<{ outputs: Array<{ step: string; org: string; kind: string; content: { count: number; mean: number } }> }>(ran.stdout);
    expect(report.outputs).toHaveLength(6);
    for (const output of report.outputs) {
      const plain = plainMean(await readFile(registryPath(output.org.slice(-1) as 'a' | 'b' | 'c'), 'utf8'), 'lab_value');
      expect(output.kind).toBe('json');
      expect(output.content.count).toBe(plain.count);
      expect(output.content.mean).toBeCloseTo(plain.mean, 9);
    }
  }, 300_000);
});
