/**
 * What an algorithm left in its run volume, read without running anything: from the volume's
 * directory when this host holds it and may read it, else through a container that is created
 * (never started) with the volume mounted, whose archive endpoint hands back the mount point. `parley algorithm test` shows an author what a later step would find.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { ContainerPath } from '../activities/sandbox/contract.ts';

/** One file in the run volume. */
export interface VolumeFile {
  /** Its path inside the volume. */
  file: string;
  bytes: number;
  /** Its text, when it is at most `maxTextBytes` of UTF-8 (for showing JSON an author wrote). */
  text?: string;
}

/** The files under `dir` on this host, as VolumeFile entries; undefined when it cannot be read. */
async function readHostDir(dir: string, maxTextBytes: number): Promise<VolumeFile[] | undefined> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    const files: VolumeFile[] = [];
    for (const e of entries) {
      // Regular files only: a symlink the algorithm left (to a host path, say) is never followed.
      if (!e.isFile()) continue;
      const path = join(e.parentPath, e.name);
      const body = await readFile(path);
      files.push({ file: relative(dir, path), bytes: body.length, ...(body.length <= maxTextBytes ? { text: body.toString('utf8') } : {}) });
    }
    return files.sort((a, b) => (a.file < b.file ? -1 : 1));
  } catch {
    return undefined;
  }
}

/**
 * The regular files of `volumeName`, sorted by path. On a local engine whose volume directory
 * this process may read (root, the default engine) that is read directly, which costs nothing
 * beside the container; otherwise through the archive of a container that is never started. `image` is any local image (the one that
 * ran): the engine needs one to create the container, which is removed afterwards.
 */
export async function readRunVolume(docker: Docker, image: string, volumeName: string, maxTextBytes = 64 * 1024): Promise<VolumeFile[]> {
  const { Mountpoint } = await docker.getVolume(volumeName).inspect();
  // A remote engine's mount point names a directory on another machine: only trust a local one.
  if (!process.env.DOCKER_HOST && Mountpoint) {
    const direct = await readHostDir(Mountpoint, maxTextBytes);
    if (direct) return direct;
  }
  const container = await docker.createContainer({
    Image: image,
    NetworkDisabled: true,
    HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: volumeName, Target: ContainerPath.Volume, ReadOnly: true }] },
  });
  try {
    const archive = (await container.getArchive({ path: `${ContainerPath.Volume}/.` })) as unknown as NodeJS.ReadableStream;
    const files: VolumeFile[] = [];
    const extract = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
        stream.on('end', () => {
          if (header.type === 'file') {
            const body = Buffer.concat(chunks);
            const file = header.name.replace(/^\.?\/?/, '');
            files.push({ file, bytes: body.length, ...(body.length <= maxTextBytes ? { text: body.toString('utf8') } : {}) });
          }
          next();
        });
        stream.resume();
      });
      extract.once('finish', resolve);
      extract.once('error', reject);
    });
    archive.pipe(extract);
    await done;
    return files.sort((a, b) => (a.file < b.file ? -1 : 1));
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}
