/**
 * `repo[:tag]` or `repo@sha256:…` → repo (a registry's port stays). Sites allow an image by its
 * repository and digest: the tag is not part of what runs, so every comparison and every pin
 * goes through this one reading of a reference.
 */
export function repositoryOf(reference: string): string {
  return reference.replace(/@sha256:[0-9a-f]{64}$/, '').replace(/:[^/:]+$/, '');
}
