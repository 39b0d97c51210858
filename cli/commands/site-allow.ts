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
import { ImageRole, type AllowedImage } from '../../activities/site-policy.ts';
import { UsageError } from '../lib/command.ts';

const usage = [
  'Usage: parley site allow <image> [--role analysis|protocol] [--release] [--config FILE] [--json]',
  '',
  'Allows the local image <image> (name[:tag], or its id) to run at this site: resolves its digest',
  '(the image id) and adds { name, digest, role } to allowedImages in the configuration, keeping its',
  'comments. The tag is not kept: the digest pins the content. Restart the worker to apply it.',
  '',
  '  --role ROLE    protocol: only as a secure sum\'s steps (parley/secure-sum, parley/additive-sum);',
  '                 analysis (default): only as a chain\'s own steps',
  '  --release      analysis images: let the image\'s own output and messages leave this site',
  '                 (without it, only secure-sum totals leave)',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json         print one JSON line: {name, digest, added}',
].join('\n');

export const siteAllow: SiteVerb = {
  verb: 'allow',
  summary: 'allow a local algorithm image here, pinned by its digest',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'allow', ['image'], { ...CONFIG_OPTION, json: { type: 'boolean', default: false }, role: { type: 'string' }, release: { type: 'boolean', default: false } });
    const role = values.role ?? ImageRole.Analysis;
    if (role !== ImageRole.Analysis && role !== ImageRole.Protocol) throw new UsageError(`--role must be ${ImageRole.Analysis} or ${ImageRole.Protocol}, not "${role}".`);
    if (values.release && role === ImageRole.Protocol) throw new UsageError('--release is for analysis images: a protocol image releases only the secure sum\'s total.');
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
    const image: AllowedImage = { name: repositoryOf(named), digest: info.Id, role, ...(values.release ? { release: true } : {}) };
    const outcome = await addAllowedImage(file, image);
    if (values.json) {
      io.out(JSON.stringify({ ...image, added: outcome === 'added' }));
      return 0;
    }
    const as = `as ${role === ImageRole.Protocol ? 'a protocol' : 'an analysis'} image${image.release ? ' that may release its output' : ''}`;
    io.out(outcome === 'added' ? `Allowed ${image.name} pinned at ${image.digest} ${as} in ${file}.` : `${image.name} at ${image.digest} was already allowed ${as} in ${file}.`);
    if (outcome === 'added') io.out('Restart the site worker (parley site start) for it to take effect.');
    return 0;
  },
};
