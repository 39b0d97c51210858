/**
 * The `vertical` chain step in a chain file: parsed, checked and resolved like the other kinds
 * (the link step here is a container step standing in for the `link` step until it is merged).
 */
import { describe, expect, it } from 'vitest';
import { parseChainFile } from './parse-chain-file.ts';
import { resolveChain } from './resolve-chain.ts';

const CHAIN = `version: 1
name: vertical
sites: [hospital, lab, pharmacy]
steps:
  - id: link
    image: parley-test/linked-rows
    datasets: [linked]
  - id: table
    after: [link]
    vertical:
      linked: link
      crosstab: { rows: { at: hospital, column: diagnosis, levels: [T1D, T2D, none] }, columns: { at: pharmacy, column: statin, levels: ["0", "1"] } }
  - id: cohort
    vertical:
      linked: link
      summary: { value: { at: lab, column: hba1c, decimals: 1 },
                 where: [ { at: pharmacy, column: statin, equals: "1" }, { at: hospital, column: age, atLeast: 60 } ] }
  - id: regression
    after: [link]
    vertical:
      linked: link
      regression: { outcome: { at: lab, column: hba1c, decimals: 1 },
                    features: [ { at: hospital, column: age }, { at: hospital, column: sex, equals: M },
                                { at: pharmacy, column: metformin }, { at: pharmacy, column: statin } ] }
`;

const pin = async (name: string) => ({ name, digest: `sha256:${'f'.repeat(64)}` });

describe('vertical chain steps', () => {
  it('parses and resolves the three analyses, pinning parley/vertical and running each after its link step', async () => {
    const parsed = parseChainFile(CHAIN, 'chain.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const resolved = await resolveChain(parsed.file, { resolveImage: pin, participants: ['hospital', 'lab', 'pharmacy'] });
    if (!resolved.ok) throw new Error(JSON.stringify(resolved.problems));
    const vertical = resolved.spec.steps.filter((s) => s.kind === 'vertical');
    expect(vertical.map((s) => [s.id, s.image.name, s.after, s.modulus])).toEqual([
      ['table', 'parley/vertical', ['link'], '18446744073709551616'],
      ['cohort', 'parley/vertical', ['link'], '18446744073709551616'],
      ['regression', 'parley/vertical', ['link'], '18446744073709551616'],
    ]);
  });

  it('refuses a step with two analyses, naming the step', () => {
    const parsed = parseChainFile(CHAIN.replace('      linked: link\n      crosstab:', '      linked: link\n      summary: { value: { at: lab, column: hba1c }, where: [] }\n      crosstab:'), 'chain.yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems[0]!.message).toMatch(/exactly one of crosstab, summary or regression/);
  });

  it('refuses a link step that is not an earlier step', () => {
    const parsed = parseChainFile(CHAIN.replace('  - id: cohort\n    vertical:\n      linked: link', '  - id: cohort\n    vertical:\n      linked: linkage'), 'chain.yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.some((p) => /"linkage"/.test(p.message))).toBe(true);
  });

  it('refuses a vertical step over two sites: a product needs a dealer holding neither column', () => {
    const parsed = parseChainFile(CHAIN.replace('sites: [hospital, lab, pharmacy]', 'sites: [hospital, pharmacy]'), 'chain.yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems[0]!.message).toMatch(/vertical analysis, which needs at least 3: .* dealer/);
  });
});
