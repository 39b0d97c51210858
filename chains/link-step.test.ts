/**
 * The `link` chain step in chain files: accepted as the example writes it, resolved to a
 * LinkStep pinned by digest, and every mistake placed at its line and column.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChainSpecSchema } from './chain-spec-schema.ts';
import { parseChainFile } from './parse-chain-file.ts';
import { resolveChain } from './resolve-chain.ts';

const EXAMPLE = readFileSync(new URL('../examples/chains/vertical-link.yaml', import.meta.url), 'utf8');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

function problems(text: string) {
  const parsed = parseChainFile(text, 'chain.yaml');
  if (parsed.ok) throw new Error('expected problems, the chain was accepted');
  return parsed.problems;
}

describe('link chain step', () => {
  it('accepts examples/chains/vertical-link.yaml and resolves it to a link step on parley/link, pinned by digest', async () => {
    const parsed = parseChainFile(EXAMPLE, 'vertical-link.yaml');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const resolved = await resolveChain(parsed.file, { resolveImage: async (name) => (name === 'parley/link' ? { name, digest: DIGEST } : undefined), participants: ['hospital', 'lab', 'pharmacy'] });
    expect(resolved).toEqual({
      ok: true,
      spec: {
        name: 'vertical-link', description: expect.any(String),
        steps: [{ kind: 'link', id: 'linked', image: { name: 'parley/link', digest: DIGEST }, identifier: 'patient_id', sources: [{ at: 'hospital', dataset: 'hospital' }, { at: 'lab', dataset: 'lab' }, { at: 'pharmacy', dataset: 'pharmacy' }], after: [] }],
      },
    });
    if (resolved.ok) expect(ChainSpecSchema.safeParse(resolved.spec).success).toBe(true);
  });

  it('places a one-source link, a site listed twice and an unknown key at their line and column', () => {
    const one = EXAMPLE.replace(/\n {8}- \{ at: lab, dataset: lab \}\n {8}- \{ at: pharmacy, dataset: pharmacy \}/, '');
    expect(problems(one)).toEqual([expect.objectContaining({ path: 'steps[0].link.sources', line: 13, message: expect.stringMatching(/at least two sources/) })]);
    const twice = EXAMPLE.replace('{ at: lab, dataset: lab }', '{ at: hospital, dataset: lab }');
    expect(problems(twice)).toEqual([expect.objectContaining({ path: 'steps[0].link.sources', message: expect.stringMatching(/must not list a site twice/) })]);
    const typo = EXAMPLE.replace('identifier: patient_id', 'identifer: patient_id');
    expect(problems(typo)).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'steps[0].link.identifer', line: 11, column: 7 })]));
  });

  it('refuses a link source outside the chain\'s sites, and a step reading a link\'s messages', () => {
    const outside = EXAMPLE.replace('sites: [hospital, lab, pharmacy]', 'sites: [hospital, lab, clinic]');
    expect(problems(outside)).toEqual([expect.objectContaining({ path: 'steps[0].link.sources[2].at', line: 15, message: expect.stringMatching(/"pharmacy" is not among the sites/) })]);
    const reader = `${EXAMPLE}  - id: analyse\n    image: parley/analyse\n    inputs: [linked]\n`;
    expect(problems(reader)).toEqual([expect.objectContaining({ path: 'steps[1].inputs[0]', message: expect.stringMatching(/a link: its messages belong to its own protocol/) })]);
  });
});
