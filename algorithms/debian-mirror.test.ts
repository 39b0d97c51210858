import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEBIAN_MIRROR, debianMirror, mirrorFromDeb822, mirrorFromSourcesList } from './debian-mirror.ts';

describe('the Debian mirror apt uses', () => {
  it('reads the suite\'s URI from a one-line sources.list, skipping options, comments and other suites', () => {
    const text = [
      '# deb http://commented.example/debian bookworm main',
      'deb http://security.debian.org/debian-security bookworm-security main',
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib',
    ].join('\n');
    expect(mirrorFromSourcesList(text, 'bookworm')).toBe('http://mirror.example/debian');
    expect(mirrorFromSourcesList(text, 'trixie')).toBeUndefined();
  });

  it('reads the suite\'s URI from a deb822 .sources file, skipping disabled and source stanzas', () => {
    const text = [
      'Types: deb-src', 'URIs: http://src.example/debian', 'Suites: bookworm', 'Components: main', '',
      'Types: deb', 'URIs: http://off.example/debian', 'Suites: bookworm', 'Enabled: no', '',
      'Types: deb', '# http://snapshot.debian.org/archive/debian/20250520T000000Z', 'URIs: http://deb.example/debian', 'Suites: bookworm bookworm-updates', 'Components: main',
    ].join('\n');
    expect(mirrorFromDeb822(text, 'bookworm')).toBe('http://deb.example/debian');
  });

  it('looks in sources.list, then sources.list.d in name order, then falls back to deb.debian.org', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-apt-'));
    try {
      expect(await debianMirror('bookworm', dir)).toBe(DEFAULT_DEBIAN_MIRROR);
      await mkdir(join(dir, 'sources.list.d'));
      await writeFile(join(dir, 'sources.list.d', 'b.sources'), 'Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\n');
      await writeFile(join(dir, 'sources.list.d', 'a.list.disabled'), 'deb http://ignored.example/debian bookworm main\n');
      expect(await debianMirror('bookworm', dir)).toBe('http://b.example/debian');
      await writeFile(join(dir, 'sources.list'), 'deb http://first.example/debian bookworm main\n');
      expect(await debianMirror('bookworm', dir)).toBe('http://first.example/debian');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
