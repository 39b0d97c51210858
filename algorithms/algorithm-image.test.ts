import { randomInt } from 'node:crypto';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { algorithmDir, ensureOrdinaryNodeImage, testDocker } from '../test/support/docker-images.ts';
import { runTestStep, scratchDir } from '../test/support/docker-sandbox.ts';
import { ensureAlgorithmImage } from './algorithm-image.ts';
import { ensureBaseImage, type BaseImage } from './base-image.ts';

let docker: Docker;
let base: BaseImage;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
// A repository of its own per run, so "built once" is about this test's sources alone.
const name = `parley-test/probe-copy-${randomInt(1e9)}`;
const runId = `test-images-${randomInt(1e9)}`;

beforeAll(async () => {
  docker = testDocker();
  base = await ensureBaseImage(docker);
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const image of await docker.listImages({ filters: { reference: [name] } })) await docker.getImage(image.Id).remove({ force: true });
  await removeRunVolumes(docker, { runId, org: 'north' });
  await scratch?.dispose();
});

/** A copy of the probe algorithm that the test may edit. */
async function probeCopy(dir: string): Promise<string> {
  const copy = join(scratch.dir, dir);
  await cp(algorithmDir('test-fixtures/probe'), copy, { recursive: true });
  return copy;
}

describe('ensureAlgorithmImage', () => {
  it('builds FROM the base, tagged by content, entering node /app/main.js as the sandbox user', async () => {
    const sourceDir = await probeCopy('contract');
    const image = await ensureAlgorithmImage(docker, { name, sourceDir, base });

    expect(image.ref).toMatch(new RegExp(`^${name}:[0-9a-f]{16}$`));
    const info = await docker.getImage(image.ref).inspect();
    expect(image.digest).toBe(info.Id);
    expect(info.Config.Entrypoint).toEqual(['node', '/app/main.js']);
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Labels).toMatchObject({ 'parley.role': 'algorithm', 'parley.algorithm': name });
    const history = await docker.getImage(image.ref).history();
    expect(history.map((layer: { Id: string }) => layer.Id)).toContain(base.id);
  });

  it('builds once, and again only when a source changes', async () => {
    const sourceDir = await probeCopy('rebuild');
    const first = await ensureAlgorithmImage(docker, { name, sourceDir, base });
    const progress: string[] = [];
    expect(await ensureAlgorithmImage(docker, { name, sourceDir, base, onProgress: (l) => progress.push(l) })).toEqual(first);
    expect(progress).toEqual([]);

    // Test files and dotfiles stay out of the image, so they do not change it either.
    await writeFile(join(sourceDir, 'main.test.ts'), '// not shipped\n');
    await writeFile(join(sourceDir, '.notes'), 'not shipped\n');
    expect(await ensureAlgorithmImage(docker, { name, sourceDir, base })).toEqual(first);

    await writeFile(join(sourceDir, 'helper.js'), 'export const changed = true;\n');
    const second = await ensureAlgorithmImage(docker, { name, sourceDir, base, onProgress: (l) => progress.push(l) });
    expect(second.ref).not.toBe(first.ref);
    expect(second.digest).not.toBe(first.digest);
    expect(progress).toContain(`Successfully tagged ${second.ref}`);
  });

  it('prepares an ordinary Node image (PARLEY_BASE_IMAGE) with the contract\'s user and directories', async () => {
    const ordinary = await ensureBaseImage(docker, { baseImage: await ensureOrdinaryNodeImage(docker) });
    const image = await ensureAlgorithmImage(docker, { name, sourceDir: await probeCopy('ordinary'), base: ordinary });

    const result = await runTestStep(docker, scratch.dir, { image: image.digest, runId, org: 'north', step: 'probe', participants: ['north'], args: { action: 'probe' } });
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    expect(result.output).toMatchObject({ uid: 10001, writes: { rootfs: 'EROFS', tmp: 'ok', volume: 'ok' } });
  });

  it('reports a failed build as ImageBuild, naming the image and the engine\'s error', async () => {
    // Parley's base has no shell, so treating it as an ordinary image makes the RUN step fail.
    const shellless = { ...base, prepared: false };
    const failure = ensureAlgorithmImage(docker, { name, sourceDir: await probeCopy('broken'), base: shellless });
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.ImageBuild, details: { image: expect.stringMatching(`^${name}:`) } });
    await expect(failure).rejects.toThrow(new RegExp(`Could not build algorithm image ${name}:[0-9a-f]{16} .*/bin/sh`));
  });

  it('refuses a folder without main.js', async () => {
    const failure = ensureAlgorithmImage(docker, { name, sourceDir: scratch.dir, base });
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.InvalidInput });
    await expect(failure).rejects.toThrow(/has no main\.js/);
  });
});
