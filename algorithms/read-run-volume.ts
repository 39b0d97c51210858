/**
 * What an algorithm left in its run volume, read without running anything: a container is
 * created (never started) with the volume mounted, and the engine's archive endpoint hands back
 * the mount point as a tar. `parley algorithm test` shows an author what a later step would find.
 */
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

/**
 * The regular files of `volumeName`, sorted by path. `image` is any local image (the one that
 * ran): the engine needs one to create the container, which is removed afterwards.
 */
export async function readRunVolume(docker: Docker, image: string, volumeName: string, maxTextBytes = 64 * 1024): Promise<VolumeFile[]> {
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
