import { randomInt } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isParleyError } from '../../common/errors.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { countDataset, runTestStep, scratchDir, type TestStep } from '../../test/support/docker-sandbox.ts';
import { removeRunVolumes } from './run-volume.ts';

let docker: Docker;
let probe: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runId = `test-sandbox-${randomInt(1e9)}`;

beforeAll(async () => {
  docker = testDocker();
  probe = (await testImages(docker, { probe: 'test-fixtures/probe' })).probe.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  await removeRunVolumes(docker, { runId, org: 'north' });
  await scratch?.dispose();
});

function step(args: unknown, overrides: Partial<TestStep> = {}): TestStep {
  return { image: probe, runId, org: 'north', step: `probe-${randomInt(1e6)}`, participants: ['north', 'east'], args, ...overrides };
}

async function containersOfRun(): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: [`parley.run=${runId}`] } })).length;
}

describe('runSandboxed', () => {
  it('creates the container exactly as the contract says, and kills and removes it when the step is cancelled', async () => {
    const controller = new AbortController();
    let inspected: Docker.ContainerInspectInfo | undefined;
    const run = runTestStep(docker, scratch.dir, step({ action: 'hang' }, { limits: { memoryBytes: 256 * 1024 * 1024, cpus: 0.5, pids: 64 } }), {
      signal: controller.signal,
      onStart: (id) => {
        void docker
          .getContainer(id)
          .inspect()
          .then((info) => (inspected = info))
          .finally(() => controller.abort(new Error('cancelled by the test')));
      },
    });
    await expect(run).rejects.toThrow('cancelled by the test');

    const host = inspected!.HostConfig;
    expect(host.NetworkMode).toBe('none');
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.SecurityOpt).toEqual(['no-new-privileges']);
    expect(inspected!.Config.User).toBe('10001:10001');
    expect(host.Memory).toBe(256 * 1024 * 1024);
    expect(host.NanoCpus).toBe(0.5e9);
    expect(host.PidsLimit).toBe(64);
    expect(host.Tmpfs).toEqual({ '/tmp': 'rw,noexec,nosuid,size=64m,mode=1777' });
    expect(host.AutoRemove).toBe(false);
    const mounts = Object.fromEntries(inspected!.Mounts.map((m) => [m.Destination, { type: m.Type, rw: m.RW }]));
    expect(mounts).toEqual({
      '/run/parley/volume': { type: 'volume', rw: true },
      '/run/parley/input': { type: 'bind', rw: false },
      '/run/parley/node.sock': { type: 'bind', rw: false },
    });
    expect(inspected!.Config.Labels).toMatchObject({ 'parley.run': runId, 'parley.site': 'north' });
    expect(inspected!.Config.Env).toEqual(expect.arrayContaining([`PARLEY_RUN_ID=${runId}`, 'PARLEY_ORG=north', 'PARLEY_PARTICIPANTS=north,east']));
    expect(await containersOfRun()).toBe(0);
  });

  it('gives the algorithm a read-only root, a writable /tmp and run volume, read-only data and inputs, and no network', async () => {
    const registry = await countDataset(scratch.dir, 'registry', '17\n');
    const result = await runTestStep(
      docker,
      scratch.dir,
      step({ action: 'probe', datasets: ['registry'] }, { datasets: { registry }, inputs: [{ from: 'east', step: 'earlier', seq: 3, content: { hello: 'north' } }] }),
    );
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatchObject({
      uid: 10001,
      gid: 10001,
      interfaces: ['lo'],
      writes: { rootfs: 'EROFS', etc: 'EROFS', tmp: 'ok', volume: 'ok', input: 'EROFS', 'data:registry': 'EROFS' },
      datasets: { registry: ['count'] },
      env: { runId, org: 'north', participants: ['north', 'east'] },
      inputs: [{ from: 'east', step: 'earlier', seq: 3, content: { hello: 'north' } }],
    });
    expect(await containersOfRun()).toBe(0);
  });

  it('returns a failing algorithm\'s exit code with its last 20 lines of stdout and stderr', async () => {
    const result = await runTestStep(docker, scratch.dir, step({ action: 'fail', stdout: 25, stderr: 5, exitCode: 3 }));
    expect(result.exitCode).toBe(3);
    expect(result.logTail).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
    expect(await containersOfRun()).toBe(0);
  });

  it('says when the kernel killed the algorithm at its memory limit, and which limit it was', async () => {
    const limits = { memoryBytes: 64 * 1024 * 1024 };
    const greedy = await runTestStep(docker, scratch.dir, step({ action: 'allocate', mb: 256 }, { limits }));
    expect(greedy.exitCode).toBe(137);
    expect(greedy.oomKilled).toBe(true);
    expect(greedy.memoryBytes).toBe(64 * 1024 * 1024);
    expect(greedy.logTail).not.toContain('allocated 256 MiB');

    // Within the limit, and failing for another reason: neither is an out-of-memory kill.
    const modest = await runTestStep(docker, scratch.dir, step({ action: 'allocate', mb: 16 }, { limits }));
    expect({ exitCode: modest.exitCode, oomKilled: modest.oomKilled }).toEqual({ exitCode: 0, oomKilled: false });
    const failing = await runTestStep(docker, scratch.dir, step({ action: 'fail', exitCode: 137 }));
    expect({ exitCode: failing.exitCode, oomKilled: failing.oomKilled, memoryBytes: failing.memoryBytes }).toEqual({ exitCode: 137, oomKilled: false, memoryBytes: 512 * 1024 * 1024 });
    expect(await containersOfRun()).toBe(0);
  });

    it('kills a hung algorithm at its timeout with StepTimeout naming the step, image and timeout', async () => {
    const hung = step({ action: 'hang' }, { step: 'sum', timeoutMs: 1_500 });
    const started = Date.now();
    const failure = await runTestStep(docker, scratch.dir, hung).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(isParleyError(failure, ErrorCode.StepTimeout)).toBe(true);
    expect((failure as Error).message).toMatch(/Step "sum" of run .* at north ran past its 1500 ms timeout and was killed \(image sha256:/);
    expect(await containersOfRun()).toBe(0);
  });

  it('lets the algorithm send only to its allowed recipients and reports the rest as violations', async () => {
    const result = await runTestStep(docker, scratch.dir, step({ action: 'send', to: ['east', 'mallory'], content: { n: 1 } }));
    expect(result.exitCode).toBe(0);
    expect(result.messages).toEqual([{ to: 'east', content: { n: 1 } }]);
    expect(result.output).toEqual({ refused: ['mallory'] });
    expect(result.violations).toEqual([expect.stringMatching(/Recipient "mallory" is not one this step may send to/)]);
  });
});
