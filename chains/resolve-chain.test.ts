/**
 * resolveChain: the example chain becomes the ChainSpec the workflow runs — images pinned,
 * defaults filled in — and the API's ChainSpecSchema holds a hand-built spec to the same rules.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ChainSpec, PinnedImage } from '../common/chain.ts';
import { ChainSpecSchema } from './chain-spec-schema.ts';
import { parseChainFile } from './parse-chain-file.ts';
import { resolveChain } from './resolve-chain.ts';

const EXAMPLE = readFileSync(new URL('./fixtures/cohort-mean.yaml', import.meta.url), 'utf8');
const digest = (byte: string) => `sha256:${byte.repeat(32)}`;
/** What a local engine would know: built or pulled images by name. */
const LOCAL: Record<string, PinnedImage> = {
  'parley/preprocess': { name: 'parley/preprocess', digest: digest('01') },
  'parley/analyse': { name: 'parley/analyse', digest: digest('02') },
  'parley/additive-sum': { name: 'parley/additive-sum', digest: digest('03') },
  'parley/secure-sum': { name: 'parley/secure-sum', digest: digest('04') },
};
const resolveImage = async (name: string) => LOCAL[name];

function fileOf(text: string) {
  const parsed = parseChainFile(text, 'chain.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.file;
}

async function specOf(text: string, participants?: string[]): Promise<ChainSpec> {
  const resolved = await resolveChain(fileOf(text), { resolveImage, ...(participants ? { participants } : {}) });
  if (!resolved.ok) throw new Error(JSON.stringify(resolved.problems));
  return resolved.spec;
}

describe('resolveChain', () => {
  it('pins every image by digest and fills in every default', async () => {
    expect(await specOf(EXAMPLE)).toEqual({
      name: 'cohort-mean',
      description: 'Mean of the lab value among adults with type 2 diabetes',
      steps: [
        {
          kind: 'container', id: 'preprocess', image: LOCAL['parley/preprocess'], datasets: ['registry'],
          args: { dataset: 'registry', where: [{ column: 'age', op: '>=', value: 18 }] }, after: [], inputs: [], timeoutMs: 120_000,
        },
        { kind: 'container', id: 'analyse', image: LOCAL['parley/analyse'], datasets: [], args: { column: 'lab_value', decimals: 1, bins: [4, 6, 8, 10, 12] }, after: ['preprocess'], inputs: [] },
        { kind: 'secure-sum', id: 'total', protocol: 'additive', image: LOCAL['parley/additive-sum'], values: 'statistics.json', modulus: '18446744073709551616', after: ['analyse'] },
      ],
    });
  });

  it('defaults a secure sum to additive shares modulo 2^64, and picks the ring image for the ring', async () => {
    const bare = EXAMPLE.replace('      protocol: additive\n', '').replace('      modulus: "18446744073709551616"\n', '');
    expect((await specOf(bare)).steps[2]).toMatchObject({ protocol: 'additive', image: LOCAL['parley/additive-sum'], modulus: (2n ** 64n).toString() });
    expect((await specOf(EXAMPLE.replace('protocol: additive', 'protocol: ring'))).steps[2]).toMatchObject({ protocol: 'ring', image: LOCAL['parley/secure-sum'] });
  });

  it('keeps a secure sum\'s privacy, with δ = 1e-6 when the chain gives none', async () => {
    const text = EXAMPLE.replace('values: statistics.json', 'values: statistics.json\n      privacy: { epsilon: 2 }');
    expect((await specOf(text)).steps[2]).toMatchObject({ privacy: { epsilon: 2, delta: 1e-6 } });
    expect((await specOf(EXAMPLE)).steps[2]).not.toHaveProperty('privacy');
  });

  it('takes name@sha256:… as given, without asking for it, and keeps the repository (sites allow by repository and digest)', async () => {
    const pinned = `parley/analyse:2@sha256:${'cd'.repeat(32)}`;
    const spec = await specOf(EXAMPLE.replace('image: parley/analyse', `image: ${pinned}`));
    expect(spec.steps[1]!.image).toEqual({ name: 'parley/analyse', digest: digest('cd') });
  });

  it('keeps an at list and leaves "all" as every site', async () => {
    const spec = await specOf(`${EXAMPLE}  - id: report\n    image: parley/analyse\n    at: [registry-b]\n    after: [preprocess]\n`);
    expect(spec.steps[0]).not.toHaveProperty('at');
    expect(spec.steps[3]).toMatchObject({ at: ['registry-b'] });
  });

  it('names the step whose image is unknown, and says how to fix it', async () => {
    const resolved = await resolveChain(fileOf(EXAMPLE.replace('image: parley/analyse', 'image: parley/analyse:9')), { resolveImage });
    expect(resolved).toEqual({ ok: false, problems: [{ path: 'steps[1].image', message: 'step "analyse": image parley/analyse:9 is not known here, so it cannot be pinned by digest. Build or pull it, or pin it as parley/analyse:9@sha256:<digest>.' }] });
  });

  it('checks at lists and secure sums against the participants when they are known', async () => {
    const noSites = `${EXAMPLE.replace('sites: [registry-a, registry-b, registry-c]\n', '')}  - id: report\n    image: parley/analyse\n    at: [registry-b]\n`;
    const resolved = await resolveChain(fileOf(noSites), { resolveImage, participants: ['registry-a', 'registry-c'] });
    expect(resolved.ok).toBe(false);
    if (resolved.ok) return;
    expect(resolved.problems).toEqual([
      { path: 'steps[3].at[0]', message: expect.stringMatching(/"registry-b" is not among the sites taking part \(participants: registry-a, registry-c\)/) },
      { path: 'participants', message: expect.stringMatching(/lists 2 site\(s\), but step "total" is a secure sum, which needs at least 3/) },
    ]);
  });
});

describe('ChainSpecSchema (the API\'s check of a resolved chain)', () => {
  it('accepts what resolveChain makes', async () => {
    expect(ChainSpecSchema.safeParse(await specOf(EXAMPLE)).success).toBe(true);
  });

  it('holds a hand-built spec to the file\'s rules', async () => {
    const good = await specOf(EXAMPLE);
    const mutate = (change: (spec: ChainSpec & Record<string, unknown>) => void) => {
      const spec = structuredClone(good) as ChainSpec & Record<string, unknown>;
      change(spec);
      const result = ChainSpecSchema.safeParse(spec);
      return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
    };
    const step = (spec: ChainSpec, i: number) => spec.steps[i] as unknown as Record<string, unknown>;
    expect(mutate((s) => { s.extra = 1; })).toEqual(['']);
    expect(mutate((s) => { step(s, 1).image = { name: 'parley/analyse', digest: 'latest' }; })).toEqual(['steps.1.image.digest']);
    expect(mutate((s) => { step(s, 1).image = { name: 'parley/analyse' }; })).toEqual(['steps.1.image.digest']);
    expect(mutate((s) => { step(s, 1).after = ['total']; })).toEqual(['steps.1.after.0']);
    expect(mutate((s) => { step(s, 1).id = 'preprocess'; step(s, 2).after = ['preprocess']; })).toEqual(['steps.1.id']);
    expect(mutate((s) => { step(s, 1).inputs = ['total']; })).toEqual(['steps.1.inputs.0']);
    expect(mutate((s) => { step(s, 0).at = ['registry-a']; step(s, 1).at = ['registry-a']; })).toEqual(['steps.2.after']);
    expect(mutate((s) => { step(s, 2).kind = 'shamir'; })).toEqual(['steps.2.kind']);
    expect(mutate((s) => { step(s, 2).modulus = '7'; })).toEqual(['steps.2.modulus']);
    expect(mutate((s) => { step(s, 2).values = '/etc/passwd'; })).toEqual(['steps.2.values']);
    expect(mutate((s) => { step(s, 2).protocol = 'shamir'; })).toEqual(['steps.2.protocol']);
    expect(mutate((s) => { step(s, 0).timeoutMs = 5; })).toEqual(['steps.0.timeoutMs']);
    expect(mutate((s) => { step(s, 0).args = { f: () => 1 }; })).toEqual(['steps.0.args.f']);
    expect(mutate((s) => { s.steps = []; })).toEqual(['steps']);
  });
});
