/**
 * `parley site allow <image>`: pins a local image's digest in the site's allow-list. The site
 * then runs that content under that name and nothing else: a re-tag cannot swap the code.
 */
import Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { addAllowedImage } from '../../workers/site/config-file.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';
import { repositoryOf } from '../../common/image-name.ts';

const usage = [
  'Usage: parley site allow <image> [--config FILE] [--json]',
  '',
  'Allows the local image <image> (name[:tag], or its id) to run at this site: resolves its digest',
  '(the image id) and adds { name, digest } to allowedImages in the configuration, keeping its',
  'comments. The tag is not kept: the digest pins the content. Restart the worker to apply it.',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json         print one JSON line: {name, digest, added}',
].join('\n');

export const siteAllow: SiteVerb = {
  verb: 'allow',
  summary: 'allow a local algorithm image here, pinned by its digest',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'allow', ['image'], { ...CONFIG_OPTION, json: { type: 'boolean', default: false } });
    const given = args[0]!;
    const file = configPath(values.config);
    await loadSiteConfig(file);
    let info: Docker.ImageInspectInfo;
    try {
      info = await new Docker().getImage(given).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        throw new ParleyError(ErrorCode.InvalidInput, `No image "${given}" on this machine's Docker engine. Pull or build it first (docker pull ${given}), check it, then allow it.`, { image: given });
      }
      throw new ParleyError(ErrorCode.Prerequisite, `Docker did not answer (${(err as Error).message}). Is the engine running?`, { image: given }, { cause: err });
    }
    const named = given.startsWith('sha256:') || /^[0-9a-f]{12,64}$/.test(given) ? info.RepoTags?.[0] : given;
    if (named === undefined) {
      throw new ParleyError(ErrorCode.InvalidInput, `Image ${given} has no name; allow it by its name (e.g. parley/secure-sum:TAG), the one runs will ask for.`, { image: given });
    }
    const image = { name: repositoryOf(named), digest: info.Id };
    const outcome = await addAllowedImage(file, image);
    if (values.json) {
      io.out(JSON.stringify({ ...image, added: outcome === 'added' }));
      return 0;
    }
    io.out(outcome === 'added' ? `Allowed ${image.name} pinned at ${image.digest} in ${file}.` : `${image.name} at ${image.digest} was already allowed in ${file}.`);
    if (outcome === 'added') io.out('Restart the site worker (parley site start) for it to take effect.');
    return 0;
  },
};
