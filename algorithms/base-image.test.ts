import type Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.ts';
import { demultiplex } from '../activities/sandbox/container-logs.ts';
import { ensureOrdinaryNodeImage, testDocker } from '../test/support/docker-images.ts';
import { ensureBaseImage } from './base-image.ts';
import { parseLdd } from './host-runtime.ts';

let docker: Docker;

beforeAll(() => {
  docker = testDocker();
});

/** Runs `script` with the image's Node and returns what it printed (no sandbox: this inspects the image). */
async function nodeIn(image: string, script: string): Promise<string> {
  const container = await docker.createContainer({ Image: image, Cmd: ['node', '-e', script], HostConfig: { NetworkMode: 'none' } });
  try {
    await container.start();
    await container.wait();
    const raw = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return Buffer.concat(demultiplex(raw)).toString('utf8');
  } finally {
    await container.remove({ force: true });
  }
}

describe('ensureBaseImage', () => {
  it('builds the base from this machine\'s Node once; a second call finds it by its tag', async () => {
    const first = await ensureBaseImage(docker);
    const progress: string[] = [];
    const second = await ensureBaseImage(docker, { onProgress: (line) => progress.push(line) });

    expect(second).toEqual(first);
    expect(progress).toEqual([]);
    expect(first.ref).toMatch(new RegExp(`^parley/base:node-${process.versions.node.replaceAll('.', '\\.')}-[0-9a-f]{12}$`));
    expect(first.prepared).toBe(true);
    const info = await docker.getImage(first.ref).inspect();
    expect(info.Id).toBe(first.id);
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.WorkingDir).toBe('/app');
    expect(info.Config.Labels).toEqual({ 'parley.role': 'base' });
  });

  it('holds Node, a non-root user and the contract\'s directories, and no shell', async () => {
    const { ref } = await ensureBaseImage(docker);
    const report = JSON.parse(
      await nodeIn(
        ref,
        `const fs = require('fs');
         const mode = (p) => { const s = fs.statSync(p); return [(s.mode & 0o7777).toString(8), s.uid, s.gid].join(' '); };
         console.log(JSON.stringify({
           uid: process.getuid(),
           user: require('os').userInfo().username,
           dirs: Object.fromEntries(['/tmp', '/data', '/run/parley', '/run/parley/input', '/run/parley/volume', '/app'].map((p) => [p, mode(p)])),
           shell: fs.existsSync('/bin/sh'),
         }));`,
      ),
    ) as { uid: number; user: string; dirs: Record<string, string>; shell: boolean };
    expect(report).toEqual({
      uid: 10001,
      user: 'parley',
      dirs: {
        '/tmp': '1777 0 0',
        '/data': '755 0 0',
        '/run/parley': '755 0 0',
        '/run/parley/input': '755 0 0',
        '/run/parley/volume': '700 10001 10001',
        '/app': '755 0 0',
      },
      shell: false,
    });
  });

  it('follows the Node that runs Parley: the image runs this process\'s Node, and its tag names the version', async () => {
    // Run under another Node (CI runs the suite on Node 24 and on the machine's own), this builds
    // another base under another tag, and every algorithm image FROM it gets a new content hash.
    const { ref, id } = await ensureBaseImage(docker);
    expect(ref).toContain(`:node-${process.versions.node}-`);
    expect((await nodeIn(ref, 'console.log(process.version)')).trim()).toBe(process.version);
    const info = await docker.getImage(id).inspect();
    expect(info.Comment).toContain(`Node ${process.version} from ${process.execPath}`);
  });

  it('uses an ordinary image named by the site as it is, for algorithm builds to prepare', async () => {
    const ordinary = await ensureOrdinaryNodeImage(docker);
    const base = await ensureBaseImage(docker, { baseImage: ordinary });
    expect(base).toEqual({ ref: ordinary, id: (await docker.getImage(ordinary).inspect()).Id, prepared: false });
  });

  it('says what to do when the named image is neither on the engine nor pullable', async () => {
    const failure = ensureBaseImage(docker, { baseImage: 'localhost:1/parley-test/absent:1' });
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.Prerequisite });
    await expect(failure).rejects.toThrow(/not on this Docker engine and could not be pulled.*unset PARLEY_BASE_IMAGE/s);
  });
});

describe('parseLdd', () => {
  it('lists the libraries and the loader ldd prints, glibc or musl, without the vDSO', () => {
    const glibc = [
      '\tlinux-vdso.so.1 (0x00007ffd0b5f3000)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2b1c000000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2b1bc00000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f2b1c5d2000)',
    ].join('\n');
    expect(parseLdd(glibc)).toEqual(['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    const musl = '\t/lib/ld-musl-x86_64.so.1 (0x7f1e8d2a2000)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f1e8d2a2000)\n';
    expect(parseLdd(musl)).toEqual(['/lib/ld-musl-x86_64.so.1']);
  });
});
