/**
 * A site runs only images its operator allowed, by name AND digest: a tag can be moved to other
 * code, a digest cannot.
 */
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { repositoryOf } from '../common/image-name.ts';
import type { ImageRef } from './types.ts';

function refusal(requested: ImageRef, where: { org: string; step: string }, why: string): ParleyError {
  return new ParleyError(
    ErrorCode.ImageNotAllowed,
    `Step "${where.step}" did not run: image ${requested.name}@${requested.digest} ${why}. ` +
      `Ask ${where.org}'s operator to allow it by name and digest (\`parley site allow ${requested.name}\` pins the digest of that image on the site's engine), or choose an allowed image.`,
    { org: where.org, step: where.step, image: requested.name, digest: requested.digest },
  );
}

/**
 * Throws ImageNotAllowed unless the operator allowed this repository with this exact digest. The
 * tag is not compared: the digest alone names the content, and a chain that says
 * `parley/preprocess` means the same image as an allow-list entry `parley/preprocess:0f44…`.
 */
export function assertAllowed(allowed: readonly ImageRef[], requested: ImageRef, where: { org: string; step: string }): void {
  if (!allowed.some((a) => repositoryOf(a.name) === repositoryOf(requested.name) && a.digest === requested.digest)) {
    throw refusal(requested, where, `is not on site "${where.org}"'s allow-list`);
  }
}

/**
 * Resolves the image to run for a step: the local image whose content digest the operator
 * allowed. Returns the image id to start (never the tag, so a re-tag cannot swap the code in
 * between). Throws ImageNotAllowed.
 */
export async function resolveAllowedImage(
  docker: Docker,
  allowed: readonly ImageRef[],
  requested: ImageRef,
  where: { org: string; step: string },
): Promise<string> {
  const refused = (why: string): never => {
    throw refusal(requested, where, why);
  };
  assertAllowed(allowed, requested, where);
  let info: Docker.ImageInspectInfo;
  try {
    info = await docker.getImage(requested.digest).inspect();
  } catch {
    return refused(`is allowed but not present at site "${where.org}"`);
  }
  const repo = repositoryOf(requested.name);
  const matches = info.Id === requested.digest || (info.RepoDigests ?? []).includes(`${repo}@${requested.digest}`);
  if (!matches) refused(`does not have the allowed digest at site "${where.org}"`);
  return info.Id;
}
