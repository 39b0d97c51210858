/**
 * `parley demo` as a user runs it: the real command in a child process, against the test run's
 * Temporal server and the real Docker engine. Only the refusals of bad usage, which end before
 * anything starts, run in this process through main().
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { columnValues, plainMoments, referenceCohort, registryPath, type Condition } from '../../test/support/statistics-steps.ts';
import { runLeftovers } from '../../test/support/run-leftovers.ts';
import { joinedTruth, VERTICAL_DATA_DIR } from '../../examples/data/vertical/generate.ts';
import { olsFit } from '../../researcher/least-squares.ts';
import { lastJsonLine, parley, parleyProcess, type ProcessOptions } from '../../test/support/parley-cli.ts';

const exampleChainFile = fileURLToPath(new URL('../../examples/chains/cohort-mean.yaml', import.meta.url));

/** A chain's cohort, computed plainly over the registries' CSVs (test/support/statistics-steps.ts). */
async function plainCohort(chainFile: string, letters: Array<'a' | 'b' | 'c'>): Promise<{ count: number; mean: number; variance: number }> {
  const chain = parse(await readFile(chainFile, 'utf8')) as {
    steps: Array<{ id: string; args?: { where?: Condition[]; column?: string } }>;
  };
  const where = chain.steps.find((s) => s.id === 'preprocess')!.args!.where!;
  const column = chain.steps.find((s) => s.id === 'analyse')!.args!.column!;
  const xs: number[] = [];
  for (const letter of letters) {
    const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), where);
    xs.push(...columnValues(columns, rows, column));
  }
  return plainMoments(xs);
}

/** `parley demo …` as a user types it, on the test run's Temporal server. */
function demo(args: string[], options: ProcessOptions = {}) {
  return parleyProcess(['demo', ...args], { ...options, env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), ...options.env } });
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'parley-demo-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface ChainLine {
  chain: string;
  count: number;
  mean: number;
  variance: number;
  sd: number;
  outputs: Array<{ step: string; org: string; kind: string }>;
  fingerprints: Array<{ org: string; sign: string; receive: string }>;
  reusedState: boolean;
  workflowId: string;
}


describe('parley demo', () => {
  it('prints the sum of the given counts and ends with one JSON line', async () => {
    const ran = await demo(['--counts', '120,45,310', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const last = lastJsonLine<{ result: number; workflowId: string; sites: string[]; match: boolean }>(ran.stdout);
    expect(last.result).toBe(475);
    expect(last.match).toBe(true);
    expect(last.sites).toEqual(['registry-a', 'registry-b', 'registry-c']);
    expect(last.workflowId).toMatch(/^run-/);
    expect(ran.stderr).toMatch(/ring\.3\.finish/);
    expect(await runLeftovers(new Docker(), last.workflowId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('runs two demos at once on one machine, same organisation names and all, and both get their own sum and leave nothing', async () => {
    // Started together: both provision, register and start their workers at the same time, and
    // each worker's start-up sweep meets the other demo's volumes and containers of the same sites.
    const ran = await Promise.all([demo(['--counts', '1,2,3,4', '--json']), demo(['--counts', '10,20,30', '--json'])]);
    const [firstRan, secondRan] = ran;
    expect(firstRan.code, firstRan.stderr).toBe(0);
    expect(secondRan.code, secondRan.stderr).toBe(0);
    const [a, b] = ran.map((r) => lastJsonLine<{ result: number; workflowId: string; match: boolean }>(r.stdout));
    expect([a!.result, b!.result]).toEqual([10, 60]);
    // Each ran in a namespace of its own on the shared server, so neither's workers took the other's steps.
    expect(firstRan.stderr).toMatch(/Temporal namespace parley-demo-/);
    for (const { workflowId } of [a!, b!]) expect(await runLeftovers(new Docker(), workflowId)).toEqual({ containers: 0, volumes: 0 });
  });

    it('with --chain runs the example chain, then a chain file of the researcher\'s own over the same sites with the same keys when both keep one --state-dir', async () => {
    const stateDir = join(scratch, 'state');
    const first = await demo(['--chain', '--state-dir', stateDir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const example = lastJsonLine<ChainLine>(first.stdout);
    const plain = await plainCohort(exampleChainFile, ['a', 'b', 'c']);
    expect(example.chain).toBe('cohort-mean');
    expect(example.count).toBe(plain.count);
    expect(example.mean).toBeCloseTo(plain.mean, 9);
    expect(example.variance).toBeCloseTo(plain.variance, 9);
    expect(example.sd).toBeCloseTo(Math.sqrt(plain.variance), 9);
    expect(example.reusedState).toBe(false);
    expect(first.stderr).toMatch(/total\.additive\.2\.combine/);

    // The second of a differencing pair, say: the example with one more filter.
    const women = join(scratch, 'cohort-mean-women.yaml');
    const exampleText = await readFile(exampleChainFile, 'utf8');
    await writeFile(women, exampleText
      .replace('name: cohort-mean\n', 'name: cohort-mean-women\n')
      .replace('        - { column: diagnosis, op: startsWith, value: E11 }\n', '        - { column: diagnosis, op: startsWith, value: E11 }\n        - { column: sex, op: "=", value: F }\n'));
    const second = await demo(['--chain', women, '--state-dir', stateDir, '--json']);
    expect(second.code, second.stderr).toBe(0);
    const own = lastJsonLine<ChainLine>(second.stdout);
    const plainWomen = await plainCohort(women, ['a', 'b', 'c']);
    expect(own.chain).toBe('cohort-mean-women');
    expect(own.outputs).toEqual([expect.objectContaining({ step: 'total', org: 'registry-a', kind: 'statistics' })]);
    expect(own.count).toBe(plainWomen.count);
    expect(own.count).toBeLessThan(example.count);
    expect(own.mean).toBeCloseTo(plainWomen.mean, 9);
    expect(own.variance).toBeCloseTo(plainWomen.variance, 9);
    // The same organisations with the same keys, found (not registered again) in the kept database.
    expect(own.reusedState).toBe(true);
    expect(own.fingerprints).toEqual(example.fingerprints);
    expect(second.stderr).toMatch(/Found the organisations, keys, researcher, collaboration and site credentials an earlier demo registered/);
    for (const run of [example, own]) expect(await runLeftovers(new Docker(), run.workflowId)).toEqual({ containers: 0, volumes: 0 });
  }, 300_000);

  it('refuses a chain file that does not validate, an image it cannot pin, and a state directory not its own or damaged, with nothing started', async () => {
    const invalid = join(scratch, 'invalid.yaml');
    const invalidText = (await readFile(exampleChainFile, 'utf8')).replace('    after: [preprocess]\n', '    after: [preprocess]\n    atSites: all\n');
    await writeFile(invalid, invalidText);
    const line = invalidText.split('\n').indexOf('    atSites: all') + 1;
    const bad = await demo(['--chain', invalid]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${invalid}:${line}:5: steps[1].atSites: unknown key "atSites"`);
    expect(bad.stderr).toMatch(/Nothing was started\./);
    expect(bad.stderr).not.toMatch(/Docker engine answers/);

    const unbuilt = join(scratch, 'unbuilt.yaml');
    await writeFile(unbuilt, (await readFile(exampleChainFile, 'utf8')).replace('image: parley/analyse', 'image: acme/not-built-here'));
    const unpinned = await demo(['--chain', unbuilt]);
    expect(unpinned.code).toBe(2);
    expect(unpinned.stderr).toMatch(/unbuilt\.yaml:\d+:\d+: steps\[1\]\.image: step "analyse": image acme\/not-built-here is neither an example image nor on this machine's Docker engine/);
    expect(unpinned.stderr).toMatch(/docker tag <image id> acme\/not-built-here`\), or use an example image: parley\/preprocess/);
    expect(unpinned.stderr).not.toMatch(/Temporal dev server|Parley API at/);

    const foreign = join(scratch, 'a-site');
    await mkdir(foreign);
    await writeFile(join(foreign, 'site.yaml'), 'org: north\n');
    const notOurs = await demo(['--chain', '--state-dir', foreign]);
    expect(notOurs.code).toBe(1);
    expect(notOurs.stderr).toMatch(/a-site is not a Parley demo's state directory: it holds other files \(site\.yaml\) and no demo-state\.json/);
    expect(await readFile(join(foreign, 'site.yaml'), 'utf8')).toBe('org: north\n');

    const damaged = join(scratch, 'damaged');
    await mkdir(damaged);
    await writeFile(join(damaged, 'demo-state.json'), '{"kind": "parley-demo-state", "version": 1', { mode: 0o600 });
    const unreadable = await demo(['--state-dir', damaged]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toMatch(/damaged\/demo-state\.json is not a usable Parley demo state file: it is not JSON\. .* Remove .*damaged to start afresh/);
  });

  it('with --vertical links the hospital, lab and pharmacy privately and fits HbA1c across their columns, equal to OLS on the plaintext join', async () => {
    const ran = await demo(['--vertical', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const last = lastJsonLine<{
      regression: { terms: string[]; n: number; coefficients: number[]; standardErrors: number[]; r2: number };
      match: boolean; workflowId: string; sites: string[];
    }>(ran.stdout);
    expect(last.sites).toEqual(['hospital', 'lab', 'pharmacy']);
    expect(last.match).toBe(true);
    // The plaintext fit, computed here from the three files: the people all three hold, with
    // every column the regression uses (the chain's link leaves out rows with an empty cell there).
    const texts = Object.fromEntries(await Promise.all((['hospital', 'lab', 'pharmacy'] as const).map(async (s) => [s, await readFile(join(VERTICAL_DATA_DIR, `${s}.csv`), 'utf8')] as const)));
    const rows = joinedTruth(texts).map((r) => r.cells as Record<'hospital' | 'lab' | 'pharmacy', string[]>)
      .filter((r) => r.hospital[0] !== '' && r.hospital[1] !== '' && r.lab[0] !== '' && r.pharmacy[0] !== '' && r.pharmacy[1] !== '');
    const fit = olsFit(rows.map((r) => [1, Number(r.hospital[0]), r.hospital[1] === 'M' ? 1 : 0, Number(r.pharmacy[0]), Number(r.pharmacy[1])]), rows.map((r) => Number(r.lab[0])));
    expect(last.regression.terms).toEqual(['intercept', 'age', 'sex=M', 'metformin', 'statin']);
    expect(last.regression.n).toBe(rows.length);
    last.regression.coefficients.forEach((b, i) => expect(Math.abs(b - fit.beta[i]!)).toBeLessThan(1e-6));
    last.regression.standardErrors.forEach((se, i) => expect(Math.abs(se - fit.se[i]!)).toBeLessThan(1e-6));
    expect(Math.abs(last.regression.r2 - fit.r2)).toBeLessThan(1e-6);
    expect(ran.stderr).toMatch(/Matches the plaintext fit/);
    expect(await runLeftovers(new Docker(), last.workflowId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('refuses bad usage with exit code 2 and says what is wrong', async () => {
    const tooFew = await parley(['demo', '--counts', '1,2']);
    expect(tooFew.code).toBe(2);
    expect(tooFew.stderr).toMatch(/--counts needs at least 3 counts/);
    const notANumber = await parley(['demo', '--counts', '1,x,3']);
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toMatch(/item 2 \("x"\) is not a non-negative whole number/);
    const chainCounts = await parley(['demo', '--chain', '--counts', '1,2,3']);
    expect(chainCounts.code).toBe(2);
    expect(chainCounts.stderr).toMatch(/--chain reads the example registries/);
    const chainSites = await parley(['demo', '--chain', '--sites', '7']);
    expect(chainSites.code).toBe(2);
    expect(chainSites.stderr).toMatch(/--chain runs over 3 to 5 sites/);
    const verticalChain = await parley(['demo', '--vertical', '--chain']);
    expect(verticalChain.code).toBe(2);
    expect(verticalChain.stderr).toMatch(/--vertical runs its own chain over its own three sites/);
    const unknown = await parley(['demo', '--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Usage: parley demo/);
  });

  it('uses the engine DOCKER_HOST names, and says so when none answers there', async () => {
    const ran = await demo(['--counts', '1,2,3'], { env: { DOCKER_HOST: 'tcp://127.0.0.1:9' } });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/No Docker engine answers at DOCKER_HOST=tcp:\/\/127\.0\.0\.1:9\. Start that engine, or unset DOCKER_HOST/);
  });

  it('stops cleanly on Ctrl-C: the run is cancelled and nothing it created remains', async () => {
    let workflowId = '';
    let interrupted = false;
    const ran = await demo(['--sites', '3'], {
      onStderr(text, child) {
        const started = /Ring secure sum started[^:]*: workflow (\S+)/.exec(text);
        if (started && !interrupted) {
          interrupted = true;
          workflowId = started[1]!;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(ran.code).toBe(130);
    expect(ran.stderr).toMatch(/run was cancelled/);
    expect(await runLeftovers(new Docker(), workflowId)).toEqual({ containers: 0, volumes: 0 });
  });
});
