/**
 * Which Debian mirror this machine's apt uses, so a Python base image is made from the same
 * packages the machine itself trusts (and reaches), with no registry involved. Both apt formats:
 * one-line `/etc/apt/sources.list` and deb822 `/etc/apt/sources.list.d/*.sources`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Debian's own redirector, when apt names no mirror for the suite. */
export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/**
 * The first `deb` URI serving `suite` itself (not `<suite>-security` or `-updates`) in one-line
 * sources.list text, or undefined. Options in brackets (`[signed-by=…]`) are skipped.
 */
export function mirrorFromSourcesList(text: string, suite: string): string | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const words = line.replace(/\[[^\]]*\]/, ' ').split(/\s+/).filter(Boolean);
    if (words[0] === 'deb' && words[2] === suite && /^https?:\/\//.test(words[1] ?? '')) return words[1]!.replace(/\/+$/, '');
  }
  return undefined;
}

/** The first URI of a deb822 stanza that serves `suite` with `Types: deb`, or undefined. */
export function mirrorFromDeb822(text: string, suite: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string[]>();
    for (const raw of stanza.split('\n')) {
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(raw.replace(/#.*$/, ''));
      if (match) fields.set(match[1]!.toLowerCase(), match[2]!.split(/\s+/).filter(Boolean));
    }
    if (!(fields.get('types') ?? []).includes('deb') || !(fields.get('suites') ?? []).includes(suite)) continue;
    if ((fields.get('enabled') ?? ['yes'])[0] === 'no') continue;
    const uri = (fields.get('uris') ?? []).find((u) => /^https?:\/\//.test(u));
    if (uri) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The mirror apt uses for `suite` on this machine (sources.list first, then sources.list.d in
 * name order), or Debian's redirector when apt names none. `aptDir` is for tests.
 */
export async function debianMirror(suite: string, aptDir = '/etc/apt'): Promise<string> {
  const listed = mirrorFromSourcesList(await readOrEmpty(join(aptDir, 'sources.list')), suite);
  if (listed) return listed;
  let names: string[] = [];
  try {
    names = (await readdir(join(aptDir, 'sources.list.d'))).sort();
  } catch {
    // no sources.list.d: nothing more to read
  }
  for (const name of names) {
    const text = await readOrEmpty(join(aptDir, 'sources.list.d', name));
    const found = name.endsWith('.sources') ? mirrorFromDeb822(text, suite) : name.endsWith('.list') ? mirrorFromSourcesList(text, suite) : undefined;
    if (found) return found;
  }
  return DEFAULT_DEBIAN_MIRROR;
}
