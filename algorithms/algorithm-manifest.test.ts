import { describe, expect, it } from 'vitest';
import { parseManifest } from './algorithm-manifest.ts';
import { checkArgs } from './args-schema.ts';

const good = `name: acme/mean
language: python
packages: [python3-numpy]
args:
  type: object
  properties:
    column: { type: string }
    rounds: { type: integer, minimum: 1 }
  required: [column]
  additionalProperties: false
reads: [patients]
`;

describe('parley-algorithm.yaml', () => {
  it('reads a manifest with its defaults: the entry point of its language, no writes', () => {
    const parsed = parseManifest(good);
    expect(parsed).toEqual({
      ok: true,
      manifest: expect.objectContaining({ name: 'acme/mean', language: 'python', entry: 'main.py', packages: ['python3-numpy'], reads: ['patients'], writes: [] }),
    });
  });

  it('refuses an args schema that is not one, at its line and column', () => {
    const parsed = parseManifest(good.replace('  type: object\n  properties:', '  type: objekt\n  properties:'), 'parley-algorithm.yaml');
    expect(parsed).toEqual({ ok: false, problems: [{ path: 'args', line: 5, column: 3, message: 'must describe an object: a step\'s args are always one (give type: object)' }] });
    const unreadable = parseManifest(good.replace('rounds: { type: integer, minimum: 1 }', 'rounds: { type: integr }'));
    expect(unreadable.ok).toBe(false);
    expect(!unreadable.ok && unreadable.problems[0]!.message).toMatch(/^is not a JSON Schema Parley can read: .*integr/);
  });

  it('names each bad field where it is: an unknown key, a bad name, a missing language, packages for JavaScript', () => {
    const parsed = parseManifest('name: Acme/Mean\nlanguag: python\n');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message.split(';')[0]}`)).toEqual([
      expect.stringMatching(/^1:7: name: must be a Docker repository name/),
      '1:1: language: is required',
      '2:1: languag: is not a manifest field',
    ]);
    const js = parseManifest('name: acme/mean\nlanguage: js\npackages: [python3-numpy]\n');
    expect(!js.ok && js.problems.map((p) => [p.path, p.line])).toEqual([['packages', 3]]);
  });

  it('checks args against the schema, naming each path and never a value', () => {
    const parsed = parseManifest(good);
    if (!parsed.ok) throw new Error('expected a valid manifest');
    expect(checkArgs(parsed.manifest.args, { column: 'lab_value', rounds: 3 })).toEqual([]);
    expect(checkArgs(parsed.manifest.args, { rounds: 0, secret: 'x' })).toEqual([
      { path: 'column', message: 'is required' },
      { path: 'rounds', message: 'Too small: expected number to be >=1' },
      { path: 'secret', message: 'is not an argument this algorithm takes' },
    ]);
  });
});
