/** `parley algorithm build <dir>`: builds an algorithm's image from its folder and manifest. */
import { ManifestError } from '../../algorithms/algorithm-manifest.ts';
import { buildAlgorithm } from '../../algorithms/build-algorithm.ts';
import { ensureDebootstrap } from '../../provision/debootstrap.ts';
import { ensureDockerEngine } from '../../provision/docker-engine.ts';
import { parseVerb } from '../lib/session.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley algorithm build <dir> [--base IMAGE] [--json]',
  '',
  'Builds the image of the algorithm in <dir> (its parley-algorithm.yaml) FROM the base its language',
  'needs: JavaScript from Parley\'s Node base; Python from Parley\'s Python base, a minimal Debian made',
  'with debootstrap holding python3 and the manifest\'s packages (built once per package list, as',
  'root). Prints the image\'s name and digest: what a site allows (`parley site allow NAME`). The',
  'same sources build the same digest, and a rebuild without changes does nothing.',
  '',
  '  --base IMAGE   build FROM this image instead (default: PARLEY_BASE_IMAGE, else Parley\'s own)',
  '  --json         print one JSON line: {name, ref, digest, built, base}',
].join('\n');

export const algorithmBuild: Verb = {
  verb: 'build',
  summary: 'build an algorithm\'s image; prints its name and digest',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'build', ['dir'], { base: { type: 'string' }, json: { type: 'boolean', default: false } });
    const baseImage = values.base ?? (io.env.PARLEY_BASE_IMAGE || undefined);
    let image;
    try {
      image = await buildAlgorithm(await ensureDockerEngine((line) => io.err(line)), args[0]!, { onProgress: (line) => io.err(line), beforePythonBase: async () => void (await ensureDebootstrap((line) => io.err(line))), ...(baseImage ? { baseImage } : {}) });
    } catch (err) {
      // A manifest that does not validate is the author's file to fix, like a chain file: exit 2.
      if (!(err instanceof ManifestError)) throw err;
      io.err(err.message);
      return 2;
    }
    if (values.json) {
      io.out(JSON.stringify({ name: image.name, ref: image.ref, digest: image.digest, built: image.built, base: image.base.ref }));
      return 0;
    }
    io.out(`${image.built ? 'Built' : 'Up to date:'} ${image.ref}`);
    io.out(`  name    ${image.name}`);
    io.out(`  digest  ${image.digest}`);
    io.out(`Allow it at a site with: parley site allow ${image.ref}`);
    return 0;
  },
};
