/**
 * parseChainFile on good and bad chains: every kind of mistake comes back as a problem naming its
 * place (path, line, column) and the fix — never as a thrown error.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { locateInChainFile, parseChainFile } from './parse-chain-file.ts';
import type { ChainFileProblem } from './parse-chain-file.ts';

const EXAMPLE = readFileSync(new URL('./fixtures/cohort-mean.yaml', import.meta.url), 'utf8');

/** The example chain with `from` replaced by `to` (each must occur once). */
function edited(...edits: Array<[string, string]>): string {
  return edits.reduce((text, [from, to]) => {
    if (text.split(from).length !== 2) throw new Error(`"${from}" is not in the example exactly once`);
    return text.replace(from, to);
  }, EXAMPLE);
}

function problemsOf(text: string, fileName = 'chain.yaml'): ChainFileProblem[] {
  const parsed = parseChainFile(text, fileName);
  if (parsed.ok) throw new Error('expected problems, the chain was accepted');
  return parsed.problems;
}

function lineOf(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split('\n').length;
}

describe('parseChainFile', () => {
  it('accepts the example chain and keeps what it says', () => {
    const parsed = parseChainFile(EXAMPLE, 'cohort-mean.yaml');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.file.name).toBe('cohort-mean');
    expect(parsed.file.sites).toEqual(['registry-a', 'registry-b', 'registry-c']);
    expect(parsed.file.steps.map((s) => s.id)).toEqual(['preprocess', 'analyse', 'total']);
    expect(parsed.file.steps[0]).toMatchObject({ image: 'parley/preprocess', args: { where: [{ column: 'age', op: '>=', value: 18 }] } });
  });

  it('accepts every example chain in examples/chains', () => {
    const dir = new URL('../examples/chains/', import.meta.url);
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(parseChainFile(readFileSync(new URL(file, dir), 'utf8'), file), file).toMatchObject({ ok: true });
  });

  it('reads JSON by extension, and by content when the name says nothing', () => {
    const json = JSON.stringify({ version: 1, name: 'counts', steps: [{ id: 'count', image: 'parley/count' }] }, null, 2);
    for (const name of ['chain.json', 'chain.txt', 'chain']) expect(parseChainFile(json, name).ok).toBe(true);
    expect(parseChainFile('version: 1\nname: counts\nsteps:\n  - id: count\n    image: parley/count\n', 'chain').ok).toBe(true);
  });

  it('gives a YAML syntax error its line and column', () => {
    const text = 'version: 1\nname: x\nsteps:\n  - id: a\n    image: [unclosed\n';
    const [problem] = problemsOf(text);
    expect(problem).toMatchObject({ path: '', line: expect.any(Number), column: expect.any(Number) });
    expect(problem!.line).toBeGreaterThanOrEqual(5);
    expect(problem!.message).toMatch(/^not valid YAML/);
  });

  it('gives a JSON syntax error its line and column, holding JSON to its own grammar', () => {
    const trailingComma = '{\n  "version": 1,\n  "name": "x",\n}';
    expect(problemsOf(trailingComma, 'chain.json')).toEqual([{ path: '', line: 4, column: 1, message: expect.stringMatching(/^not valid JSON/) }]);
    expect(problemsOf('{"version": 1, // a comment\n}', 'chain.json')[0]).toMatchObject({ line: 1, column: 16 });
  });

  it('refuses a duplicate key in YAML', () => {
    expect(problemsOf('version: 1\nname: a\nname: b\nsteps: []\n')[0]).toMatchObject({ line: 3, message: expect.stringMatching(/unique/i) });
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(problemsOf('  \n')[0]!.message).toMatch(/empty/);
    expect(problemsOf('- a\n- b\n')[0]).toMatchObject({ path: '', line: 1, column: 1, message: expect.stringMatching(/is a mapping/) });
  });

  it('names an unknown key at the key itself, with the keys allowed there and the likeliest one', () => {
    const text = edited(['timeoutSeconds: 120', 'timeoutSecs: 120']);
    expect(problemsOf(text)).toEqual([{
      path: 'steps[0].timeoutSecs', line: lineOf(text, 'timeoutSecs'), column: 5,
      message: expect.stringMatching(/^unknown key "timeoutSecs"; did you mean "timeoutSeconds"\? Allowed here: id, image, at, /),
    }]);
    expect(problemsOf(edited(['version: 1', 'version: 1\nauthor: me']))[0]).toMatchObject({ path: 'author', message: expect.stringContaining('Allowed here: $schema, version, name') });
    expect(problemsOf(edited(['protocol: additive', 'protocl: additive']))[0]).toMatchObject({ path: 'steps[2].secureSum.protocl', message: expect.stringContaining('did you mean "protocol"') });
  });

  it('needs version 1, a name and steps', () => {
    const problems = problemsOf('description: nothing else\n');
    expect(problems).toEqual([
      { path: 'version', line: 1, column: 1, message: 'must be 1, the only chain file version' },
      { path: 'name', line: 1, column: 1, message: 'is missing: add it (text)' },
      { path: 'steps', line: 1, column: 1, message: 'is missing: add it (a list)' },
    ]);
    const paths = problemsOf('version: 2\nname: Cohort Mean\nsteps: []\n').map((p) => p.path);
    expect(paths).toEqual(['version', 'name', 'steps']);
  });

  it('needs an id on every step, in the step id pattern', () => {
    const missing = edited(['  - id: analyse\n    image', '  - image'], ['after: [preprocess]\n    args: { column', 'args: { column']);
    expect(problemsOf(missing)).toEqual([{ path: 'steps[1].id', line: lineOf(missing, '- image: parley/analyse'), column: 5, message: 'is missing: add it (text)' }]);
    expect(problemsOf(edited(['id: preprocess', 'id: Pre_process'], ['after: [preprocess]', 'after: []']))[0]).toMatchObject({ path: 'steps[0].id', message: expect.stringMatching(/must be a step id/) });
  });

  it('refuses a duplicate step id, at the second one', () => {
    const text = edited(['id: analyse', 'id: preprocess'], ['after: [analyse]', 'after: [preprocess]']);
    expect(problemsOf(text)).toEqual([{ path: 'steps[1].id', line: lineOf(text, 'id: preprocess\n    image: parley/analyse'), column: 9, message: '"preprocess" is already the id of steps[0]; give each step its own id.' }]);
  });

  it('refuses a reference to the step itself, to a later step and to no step', () => {
    const self = problemsOf(edited(['after: [preprocess]', 'after: [analyse]']));
    expect(self).toEqual([expect.objectContaining({ path: 'steps[1].after[0]', message: expect.stringMatching(/names the step itself/) })]);
    const later = problemsOf(edited(['after: [preprocess]', 'after: [total]']));
    expect(later).toEqual([expect.objectContaining({ path: 'steps[1].after[0]', message: expect.stringMatching(/comes later.*Move "total" before "analyse"/) })]);
    const unknown = problemsOf(edited(['after: [preprocess]', 'after: [prepocess]']));
    expect(unknown).toEqual([expect.objectContaining({ path: 'steps[1].after[0]', message: 'names no step of this chain ("prepocess"); after may only name earlier steps: preprocess.' })]);
    const input = problemsOf(edited(['after: [preprocess]', 'after: [preprocess]\n    inputs: [ghost]']));
    expect(input).toEqual([expect.objectContaining({ path: 'steps[1].inputs[0]', message: expect.stringMatching(/names no step/) })]);
  });

  it('refuses inputs from a secure sum, whose total goes only to the requester', () => {
    const text = `${EXAMPLE}  - id: report\n    image: parley/report\n    inputs: [total]\n`;
    expect(problemsOf(text)).toEqual([expect.objectContaining({ path: 'steps[3].inputs[0]', message: expect.stringMatching(/a secure sum.*Name a container step/) })]);
  });

  it('refuses a step with both image and secureSum, or with neither', () => {
    const both = edited(['    after: [analyse]\n    secureSum', '    after: [analyse]\n    image: parley/x\n    secureSum']);
    expect(problemsOf(both)).toEqual([expect.objectContaining({ path: 'steps[2].secureSum', message: expect.stringMatching(/either image .* or secureSum .* not both/) })]);
    const neither = edited(['image: parley/analyse', 'imag: parley/analyse']);
    expect(problemsOf(neither)).toEqual([expect.objectContaining({ path: 'steps[1]', message: expect.stringMatching(/needs image .* or secureSum .* did you mean "image"/) })]);
  });

  it('refuses wrong types, saying what was given and what is expected', () => {
    const cases: Array<[Array<[string, string]>, string, RegExp]> = [
      [[['timeoutSeconds: 120', 'timeoutSeconds: "120"']], 'steps[0].timeoutSeconds', /must be a number, not the text "120"/],
      [[['timeoutSeconds: 120', 'timeoutSeconds: 1.5']], 'steps[0].timeoutSeconds', /whole number of seconds/],
      [[['timeoutSeconds: 120', 'timeoutSeconds: 0']], 'steps[0].timeoutSeconds', /at least 1 second/],
      [[['after: [preprocess]', 'after: preprocess']], 'steps[1].after', /must be a list, not the text "preprocess"/],
      [[['datasets: [registry]', 'datasets: [registry, registry]']], 'steps[0].datasets', /twice/],
      [[['datasets: [registry]', 'datasets: ["../etc"]']], 'steps[0].datasets[0]', /dataset name/],
      [[['args: { column: lab_value, decimals: 1, bins: [4, 6, 8, 10, 12] }', 'args: [lab_value]']], 'steps[1].args', /must be a mapping/],
      [[['at: all', 'at: everywhere']], 'steps[0].at', /must be "all" or a list of sites/],
      [[['at: all', 'at: []']], 'steps[0].at', /must list at least one site/],
      [[['values: statistics.json', 'values: ../statistics.json']], 'steps[2].secureSum.values', /file name in the run volume/],
      [[['sites: [registry-a, registry-b, registry-c]', 'sites: [registry-a, registry-a, registry-c]']], 'sites', /twice/],
      [[['sites: [registry-a, registry-b, registry-c]', 'sites: registry-a']], 'sites', /list/],
    ];
    for (const [edits, path, message] of cases) {
      expect(problemsOf(edited(...edits)), path).toEqual([expect.objectContaining({ path, message: expect.stringMatching(message) })]);
    }
  });

  it('refuses a bad image reference, showing both accepted forms', () => {
    for (const image of ['Parley/Analyse', 'parley/analyse@sha256:abc', 'parley/analyse@sha256:' + 'AB'.repeat(32), 'parley analyse', '@sha256:' + 'ab'.repeat(32)]) {
      const problems = problemsOf(edited(['image: parley/analyse', `image: "${image}"`]));
      expect(problems, image).toEqual([expect.objectContaining({ path: 'steps[1].image', message: expect.stringMatching(/image name such as parley\/preprocess.*@sha256:<64 lowercase hex digits>/) })]);
    }
    expect(parseChainFile(edited(['image: parley/analyse', `image: parley/analyse:1@sha256:${'ab'.repeat(32)}`]), 'c.yaml').ok).toBe(true);
  });

  it('refuses an unknown protocol and a modulus that is not a quoted decimal', () => {
    expect(problemsOf(edited(['protocol: additive', 'protocol: shamir']))).toEqual([expect.objectContaining({ path: 'steps[2].secureSum.protocol', message: 'must be one of: ring, additive' })]);
    expect(problemsOf(edited(['modulus: "18446744073709551616"', 'modulus: 18446744073709551616']))[0]!.message).toMatch(/quote it/);
    for (const modulus of ['"99"', '"0x10"', '"0123"', `"${'9'.repeat(79)}"`]) {
      expect(problemsOf(edited(['modulus: "18446744073709551616"', `modulus: ${modulus}`])), modulus).toEqual([expect.objectContaining({ path: 'steps[2].secureSum.modulus', message: expect.stringMatching(/decimal integer from 100 to 78 digits/) })]);
    }
  });

  it('takes privacy on a secure sum, and refuses an ε or δ that would protect nothing', () => {
    const withPrivacy = (privacy: string) => edited(['values: statistics.json', `values: statistics.json\n      privacy: ${privacy}`]);
    const parsed = parseChainFile(withPrivacy('{ epsilon: 0.5 }'), 'chain.yaml');
    expect(parsed.ok && parsed.file.steps[2]).toMatchObject({ secureSum: { privacy: { epsilon: 0.5 } } });
    expect(problemsOf(withPrivacy('{ epsilon: 0 }'))).toEqual([expect.objectContaining({ path: 'steps[2].secureSum.privacy.epsilon', message: 'must be above 0' })]);
    expect(problemsOf(withPrivacy('{ epsilon: 500 }'))[0]!.message).toMatch(/at most 100: above that the release protects next to nothing/);
    expect(problemsOf(withPrivacy('{ epsilon: 1, delta: 0.5 }'))[0]).toMatchObject({ path: 'steps[2].secureSum.privacy.delta', message: expect.stringMatching(/at most 0.001/) });
    expect(problemsOf(withPrivacy('{ epsilon: 1, budget: 3 }'))[0]!.message).toMatch(/unknown key/);
  });

  it('refuses an at site outside the chain\'s sites', () => {
    const text = edited(['at: all', 'at: [registry-a, registry-z]']);
    expect(problemsOf(text)).toEqual([{
      path: 'steps[0].at[1]', line: lineOf(text, 'at: ['), column: lineOf(text, 'at: [') && text.split('\n')[lineOf(text, 'at: [') - 1]!.indexOf('registry-z') + 1,
      message: '"registry-z" is not among the sites taking part (sites: registry-a, registry-b, registry-c). Add it there, or run the step elsewhere.',
    }]);
  });

  it('refuses a secure sum over fewer than 3 sites', () => {
    expect(problemsOf(edited(['sites: [registry-a, registry-b, registry-c]', 'sites: [registry-a, registry-b]']))).toEqual([
      expect.objectContaining({ path: 'sites', line: 5, message: expect.stringMatching(/lists 2 site\(s\), but step "total" is a secure sum, which needs at least 3/) }),
    ]);
    // Without a secure sum, two sites are fine.
    const twoSites = edited(['sites: [registry-a, registry-b, registry-c]', 'sites: [registry-a, registry-b]']).split('  - id: total')[0]!;
    expect(parseChainFile(twoSites, 'c.yaml').ok).toBe(true);
  });

  it('needs a secure sum to come after a step that runs at every site', () => {
    const onlySome = edited(['    after: [preprocess]\n', '    at: [registry-a]\n    after: [preprocess]\n']);
    expect(problemsOf(onlySome)).toEqual([expect.objectContaining({ path: 'steps[2].after', message: expect.stringMatching(/must name an earlier container step that runs at every site/) })]);
    expect(problemsOf(edited(['after: [analyse]', 'after: []']))[0]).toMatchObject({ path: 'steps[2].after' });
    // Listing every site by name counts as every site.
    expect(parseChainFile(edited(['    after: [preprocess]\n', '    at: [registry-c, registry-b, registry-a]\n    after: [preprocess]\n']), 'c.yaml').ok).toBe(true);
  });

  it('places a problem found after parsing (an image that cannot be pinned) at its line and column', () => {
    expect(locateInChainFile(EXAMPLE, 'c.yaml', 'steps[1].image')).toEqual({ line: lineOf(EXAMPLE, 'image: parley/analyse'), column: 12 });
    expect(locateInChainFile('version: [', 'c.yaml', 'steps')).toBeUndefined();
  });

  it('reports every schema problem at once, in the order they appear', () => {
    const text = edited(['name: cohort-mean', 'name: Cohort'], ['timeoutSeconds: 120', 'timeoutSeconds: -1'], ['protocol: additive', 'protocol: x']);
    expect(problemsOf(text).map((p) => p.path)).toEqual(['name', 'steps[0].timeoutSeconds', 'steps[2].secureSum.protocol']);
  });
});
