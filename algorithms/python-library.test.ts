/**
 * The Python base image and parley.py, inside a real sandboxed container: the base is made by
 * debootstrap once (cached by its package list), meets the container contract, and a Python
 * algorithm reaches every part of the contract through the library as a JavaScript one does.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDocker } from '../test/support/docker-images.ts';
import { ensureAlgorithmImage } from './algorithm-image.ts';
import { ensurePythonBaseImage, pythonBaseRef } from './python-base-image.ts';
import { runAlgorithmLocally } from './run-locally.ts';

let docker: Docker;
let scratch: string;

beforeAll(async () => {
  docker = testDocker();
  scratch = await mkdtemp(join(tmpdir(), 'parley-python-test-'));
  await chmod(scratch, 0o755);
}, 600_000);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Builds a one-file Python algorithm FROM the stdlib-only Python base. */
async function pythonAlgorithm(name: string, source: string): Promise<string> {
  const dir = join(scratch, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'main.py'), source);
  const base = await ensurePythonBaseImage(docker);
  const image = await ensureAlgorithmImage(docker, { name: `parley-test/${name}`, sourceDir: dir, base, language: 'python' });
  return image.digest;
}

describe('the Python base image', () => {
  it('is made once from Debian packages and found by its tag after; it runs as 10001 with the contract\'s directories', async () => {
    const first = await ensurePythonBaseImage(docker, { onProgress: () => undefined });
    const progress: string[] = [];
    const second = await ensurePythonBaseImage(docker, { onProgress: (line) => progress.push(line) });
    expect(second).toEqual(first);
    expect(progress).toEqual([]);
    expect(first.ref).toBe(pythonBaseRef([]));
    const info = await docker.getImage(first.ref).inspect();
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Labels).toEqual({ 'parley.role': 'base' });

    const digest = await pythonAlgorithm(
      'contract-probe',
      `import json, os, stat, sys
def mode(p):
    s = os.stat(p)
    return "%o %d %d" % (stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid)
import parley
parley.output({"uid": os.getuid(), "python": sys.version_info[0],
               "dirs": {p: mode(p) for p in ["/data", "/run/parley/input", "/run/parley/volume", "/app"]},
               "tmp": stat.S_IMODE(os.stat("/tmp").st_mode)})
`,
    );
    const ran = await runAlgorithmLocally(docker, { image: digest });
    expect(ran.failure).toBeUndefined();
    expect(ran.output).toEqual({
      uid: 10001,
      python: 3,
      // The run volume is a fresh named volume: filled from the image, so private to the sandbox user.
      dirs: { '/data': '755 0 0', '/run/parley/input': '755 0 0', '/run/parley/volume': '700 10001 10001', '/app': '755 0 0' },
      tmp: 0o1777,
    });
  });

  it('reports a package Debian does not have as a failed build, and leaves no directory or mount behind', async () => {
    const progress: string[] = [];
    const failed = ensurePythonBaseImage(docker, { packages: ['parley-no-such-package'], onProgress: (line) => progress.push(line) });
    await expect(failed).rejects.toMatchObject({ code: 'ERR_IMAGE_BUILD', message: expect.stringMatching(/debootstrap exited \d+ .*Check that every package in the manifest exists in Debian bookworm/) });
    expect(progress[0]).toMatch(/^Building parley\/python-base:bookworm-[0-9a-f]{12}: Debian bookworm \(minbase\) with parley-no-such-package, python3, python3-minimal/);
    expect((await readdir(tmpdir())).filter((d) => d.startsWith('parley-python-base-'))).toEqual([]);
    expect((await readFile('/proc/mounts', 'utf8')).includes('parley-python-base-')).toBe(false);
    await expect(docker.getImage(pythonBaseRef(['parley-no-such-package'])).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 300_000);

  it('refuses a package name that is not Debian\'s before anything runs', async () => {
    await expect(ensurePythonBaseImage(docker, { packages: ['python3-numpy; rm -rf /'] })).rejects.toThrow(/is not a Debian package name/);
  });
});

describe('parley.py', () => {
  it('gives a Python algorithm its args, ids, datasets, inputs, run volume, threshold, messages, cohort and output', async () => {
    const digest = await pythonAlgorithm(
      'library-probe',
      `import parley
with open(parley.data_path("counts")) as f:
    rows = [line.strip() for line in f if line.strip()]
parley.write_volume_json("kept.json", {"rows": len(rows)})
inputs = parley.read_inputs()
parley.report_cohort("counts", rows)
for other in parley.participants:
    if other != parley.org:
        parley.send(other, {"from": parley.org, "n": len(rows)})
parley.output({
    "args": parley.args, "run": parley.run_id.startswith("local-"), "step": parley.step, "org": parley.org,
    "participants": parley.participants, "min_rows": parley.min_rows(),
    "inputs": [[i["from"], i["seq"], i["content"]] for i in inputs],
    "kept": parley.read_volume_json("kept.json"), "missing": parley.read_volume_json("absent.json"),
})
`,
    );
    const dataset = join(scratch, 'counts.txt');
    await writeFile(dataset, 'r1\nr2\nr3\n', { mode: 0o644 });
    const input = join(scratch, 'input.json');
    await writeFile(input, JSON.stringify({ partial: 7 }), { mode: 0o644 });
    const ran = await runAlgorithmLocally(docker, {
      image: digest,
      datasets: { counts: dataset },
      args: { rounds: 2, column: 'lab_value' },
      inputFiles: [input],
      org: 'north',
      participants: ['north', 'south'],
      minRows: 3,
    });
    expect(ran.failure).toBeUndefined();
    expect(ran.messages).toEqual([{ to: 'south', content: { from: 'north', n: 3 } }]);
    expect(ran.cohorts).toEqual([{ dataset: 'counts', rows: ['r1', 'r2', 'r3'] }]);
    // Written through a temporary file and a rename: only the finished file is left.
    expect(ran.volume).toEqual([{ file: 'kept.json', bytes: 11, text: '{"rows":3}\n' }]);
    expect(ran.output).toEqual({
      args: { rounds: 2, column: 'lab_value' },
      run: true,
      step: 'test',
      org: 'north',
      participants: ['north', 'south'],
      min_rows: 3,
      inputs: [['north', 0, { partial: 7 }]],
      kept: { rows: 3 },
      missing: null,
    });
  });

  it('fails the step with the message of fail(), even under a catch-all, and the site\'s refusal of a send reaches the log', async () => {
    const failing = await pythonAlgorithm(
      'library-fail',
      `import parley
try:
    parley.fail("Too few rows to release anything.")
except BaseException:
    parley.output({"released": True})
`,
    );
    const failed = await runAlgorithmLocally(docker, { image: failing });
    expect(failed.exitCode).toBe(1);
    expect(failed.output).toBeUndefined();
    expect(failed.failure?.code).toBe('ERR_STEP_FAILED');
    expect(failed.logTail).toEqual(['Too few rows to release anything.']);

    const refused = await pythonAlgorithm(
      'library-refused',
      `import parley
parley.send("elsewhere", {"n": 1})
`,
    );
    const ran = await runAlgorithmLocally(docker, { image: refused, org: 'north', participants: ['north', 'south'] });
    expect(ran.exitCode).toBe(1);
    expect(ran.messages).toEqual([]);
    expect(ran.violations).toEqual(['POST /v1/messages/elsewhere: Recipient "elsewhere" is not one this step may send to (allowed: south).']);
    expect(ran.logTail.at(-1)).toBe('parley.SiteWorkerRefusal: The site worker refused POST /v1/messages/elsewhere (400): Recipient "elsewhere" is not one this step may send to (allowed: south).');
  });
});
