/**
 * The site configuration as an operator meets it: the file `parley site init` writes loads as is,
 * every bad field is named by its key path with the fix, relative paths follow the file, and
 * `site allow`'s edit keeps the operator's comments.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { loadSiteConfig, parseSiteConfig, sitePolicyOf } from './config.ts';
import { addAllowedImage, renderSiteConfig } from './config-file.ts';
import { checkDatasets } from './process.ts';
import { ImageRole } from '../../activities/site-policy.ts';

let dir: string;
const template = renderSiteConfig({ organisation: 'north', apiUrl: 'https://parley.example.org', temporalAddress: 'temporal.example.org:7233' });
const valid = () => parse(template) as Record<string, unknown>;
const digest = `sha256:${'ab'.repeat(32)}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-site-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function refusal(document: unknown): ParleyError {
  try {
    parseSiteConfig(document, join(dir, 'site.yaml'));
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe(ErrorCode.InvalidInput);
    return err as ParleyError;
  }
  throw new Error('the configuration was accepted');
}

describe('site configuration', () => {
  it('loads the file site init writes, with defaults and paths resolved against its directory', async () => {
    const file = join(dir, 'site.yaml');
    await writeFile(file, template);
    const config = await loadSiteConfig(file);
    expect(config).toMatchObject({
      organisation: 'north',
      keyFile: join(dir, 'keys/north.keys.json'),
      stateDir: join(dir, 'state'),
      temporal: { address: 'temporal.example.org:7233', namespace: 'default' },
      api: { url: 'https://parley.example.org', credentialFile: join(dir, 'site-credential') },
      datasets: {},
      allowedImages: [],
      limits: { memoryMb: 512, cpus: 1, pids: 128, stepTimeoutSeconds: 600 },
      disclosureThreshold: 10,
      maxConcurrentSteps: 2,
      shutdownGraceSeconds: 30,
    });
    const tls = parseSiteConfig({ ...valid(), temporal: { address: 'h:7233', tls: { caFile: 'ca.pem', certFile: '/etc/c.pem', keyFile: 'c.key' }, apiKeyFile: 'k' } }, file);
    expect(tls.temporal).toMatchObject({ tls: { caFile: join(dir, 'ca.pem'), certFile: '/etc/c.pem', keyFile: join(dir, 'c.key') }, apiKeyFile: join(dir, 'k') });
  });

  const bad: Array<[string, (c: Record<string, unknown>) => void, RegExp]> = [
    ['organisation', (c) => (c.organisation = 'North Registry'), /organisation: must be an organisation id/],
    ['a missing keyFile', (c) => delete c.keyFile, /keyFile: is missing; it must be a path/],
    ['temporal.address', (c) => (c.temporal = { address: 'localhost' }), /temporal\.address: must be the Temporal frontend as host:port/],
    ['temporal.tls.certFile', (c) => (c.temporal = { address: 'h:1', tls: { keyFile: 'k.pem' } }), /temporal\.tls\.certFile: mTLS needs both certFile and keyFile/],
    ['temporal.tls (unknown key)', (c) => (c.temporal = { address: 'h:1', tls: { ca: 'x' } }), /temporal\.tls\.ca: unknown key; remove it or check its spelling/],
    ['api.url', (c) => (c.api = { url: 'ftp://x', credentialFile: 'c' }), /api\.url: must be the Parley API's http\(s\) URL/],
    ['api.credentialFile', (c) => (c.api = { url: 'https://x' }), /api\.credentialFile: is missing/],
    ['datasets.registry', (c) => (c.datasets = { registry: 42 }), /datasets\.registry: must be a path/],
    ['datasets.visits (a mapping without path)', (c) => (c.datasets = { visits: { budget: { epsilon: 1, delta: 1e-6 } } }), /datasets\.visits\.path: is missing; it must be a path: the dataset's file or directory/],
    ['datasets.visits (neither a path nor a mapping)', (c) => (c.datasets = { visits: [1] }), /datasets\.visits: must be a path to the dataset's file or directory, or a mapping \{ path, budget\?, requirePrivacy\? \}/],
    ['datasets.visits.budget (unknown key)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { eps: 1, epsilon: 1, delta: 1e-6 } } }), /datasets\.visits\.budget\.eps: unknown key; remove it or check its spelling/],
    ['datasets.visits.budget.epsilon (zero)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 0, delta: 1e-6 } } }), /datasets\.visits\.budget\.epsilon: must be the budget's ε, a positive finite number such as 1 or 3/],
    ['datasets.visits.budget.epsilon (infinite)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: Infinity, delta: 1e-6 } } }), /datasets\.visits\.budget\.epsilon: must be the budget's ε, a positive finite number/],
    ['datasets.visits.budget.delta (missing)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 1 } } }), /datasets\.visits\.budget\.delta: is missing; it must be the budget's δ, a number such as 1e-6/],
    ['datasets.visits.budget.delta (zero)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 1, delta: 0 } } }), /datasets\.visits\.budget\.delta: must be above 0/],
    ['datasets.visits.budget.delta (too large)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 1, delta: 0.01 } } }), /datasets\.visits\.budget\.delta: must be below 0\.001 \(1e-6 is usual\): δ is the chance the guarantee fails outright/],
    ['datasets.visits.budget.renewEvery (format)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 1, delta: 1e-6, renewEvery: '1 month' } } }), /datasets\.visits\.budget\.renewEvery: must be a duration such as "12h", "30d" or "13w"/],
    ['datasets.visits.budget.renewEvery (a number)', (c) => (c.datasets = { visits: { path: 'v.csv', budget: { epsilon: 1, delta: 1e-6, renewEvery: 30 } } }), /datasets\.visits\.budget\.renewEvery: must be a duration/],
    ['datasets.visits.requirePrivacy', (c) => (c.datasets = { visits: { path: 'v.csv', requirePrivacy: 'yes' } }), /datasets\.visits\.requirePrivacy: must be true or false/],
    ['allowedImages.0.digest', (c) => (c.allowedImages = [{ name: 'parley/secure-sum', digest: 'latest' }]), /allowedImages\.0\.digest: must be the image digest sha256:<64 hex>; use `parley site allow <image>`/],
    ['allowedImages.0.name', (c) => (c.allowedImages = [{ name: 'Not An Image', digest }]), /allowedImages\.0\.name: must be an image name/],
    ['limits.memoryMb', (c) => (c.limits = { memoryMb: 0.5 }), /limits\.memoryMb: must be a whole number/],
    ['limits.cpus', (c) => (c.limits = { cpus: -1 }), /limits\.cpus: must be a positive number/],
    ['limits.stepSendBytes', (c) => (c.limits = { stepSendBytes: '1GiB' }), /limits\.stepSendBytes: must be a whole number \(bytes of messages one step may send in all/],
    ['limits.stepMessages', (c) => (c.limits = { stepMessages: 0 }), /limits\.stepMessages: must be at least 1 \(messages one step may send\)/],
    ['disclosureThreshold', (c) => (c.disclosureThreshold = 0), /disclosureThreshold: must be at least 1/],
    ['maxConcurrentSteps', (c) => (c.maxConcurrentSteps = 'two'), /maxConcurrentSteps: must be a whole number/],
    ['shutdownGraceSeconds', (c) => (c.shutdownGraceSeconds = -5), /shutdownGraceSeconds: must be 0 or more seconds/],
    ['an unknown top-level key', (c) => (c.allowImages = []), /allowImages: unknown key; remove it or check its spelling/],
  ];
  it.each(bad)('names %s and how to fix it', (_name, spoil, message) => {
    const document = valid();
    spoil(document);
    expect(refusal(document).message).toMatch(message);
  });

  it('reports every bad field at once, and a file that is not YAML', async () => {
    const message = refusal({ ...valid(), organisation: 7, limits: { pids: 0 } }).message;
    expect(message).toMatch(/organisation: .*\n {2}limits\.pids: must be at least 1/);
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'organisation: [north\n');
    await expect(loadSiteConfig(file)).rejects.toThrow(/broken\.yaml is not valid YAML/);
    await expect(loadSiteConfig(join(dir, 'absent.yaml'))).rejects.toThrow(/No site configuration at .*absent\.yaml\. Create one with `parley site init`/);
  });

  it('reads a dataset as a path or as a mapping with its budget and requirePrivacy, keeping datasets a map of paths', () => {
    const file = join(dir, 'site.yaml');
    const config = parseSiteConfig({
      ...valid(),
      datasets: {
        registry: 'registry.csv',
        visits: { path: '/srv/visits.csv', budget: { epsilon: 3, delta: 1e-6, renewEvery: '90d' }, requirePrivacy: true },
        labs: { path: 'labs.csv', budget: { epsilon: 0.5, delta: 1e-7 } },
        notes: { path: 'notes.csv', requirePrivacy: false },
      },
    }, file);
    expect(config.datasets).toEqual({ registry: join(dir, 'registry.csv'), visits: '/srv/visits.csv', labs: join(dir, 'labs.csv'), notes: join(dir, 'notes.csv') });
    expect(config.privacy).toEqual({
      budgets: { visits: { epsilon: 3, delta: 1e-6, renewEveryMs: 90 * 24 * 3_600_000 }, labs: { epsilon: 0.5, delta: 1e-7 } },
      requirePrivacy: ['visits'],
    });
    expect(sitePolicyOf(config).privacy).toBe(config.privacy);
    // Hours and weeks too, down to one hour.
    const renewal = (renewEvery: string) => parseSiteConfig({ ...valid(), datasets: { v: { path: 'v', budget: { epsilon: 1, delta: 1e-6, renewEvery } } } }, file).privacy.budgets.v?.renewEveryMs;
    expect(renewal('1h')).toBe(3_600_000);
    expect(renewal('12h')).toBe(12 * 3_600_000);
    expect(renewal('2w')).toBe(14 * 24 * 3_600_000);
    expect(refusal({ ...valid(), datasets: { v: { path: 'v', budget: { epsilon: 1, delta: 1e-6, renewEvery: '0h' } } } }).message).toMatch(/datasets\.v\.budget\.renewEvery: must be at least "1h": a shorter period would let the same data be queried again and again/);
    // No months: "6m" could be read as minutes or months.
    expect(refusal({ ...valid(), datasets: { v: { path: 'v', budget: { epsilon: 1, delta: 1e-6, renewEvery: '6m' } } } }).message).toMatch(/datasets\.v\.budget\.renewEvery: must be a duration such as "12h", "30d" or "13w" \(hours, days or weeks\)/);
    // Without any, the policy is empty.
    expect(parseSiteConfig(valid(), file).privacy).toEqual({ budgets: {}, requirePrivacy: [] });
  });

  it('writes a commented budget example that loads once uncommented', () => {
    expect(template).toContain('#    budget: { epsilon: 3, delta: 1e-6, renewEvery: 90d }');
    const uncommented = template.replace('datasets: {}\n', 'datasets:\n').replace(/^# {2}( {2}path:| {2}budget:| {2}requirePrivacy:|visits:)/gm, '  $1');
    const config = parseSiteConfig(parse(uncommented), join(dir, 'site.yaml'));
    expect(config.datasets).toEqual({ visits: '/srv/data/visits.csv' });
    expect(config.privacy).toEqual({ budgets: { visits: { epsilon: 3, delta: 1e-6, renewEveryMs: 90 * 24 * 3_600_000 } }, requirePrivacy: ['visits'] });
  });

  it('names a dataset that does not exist', async () => {
    const present = join(dir, 'present.csv');
    await writeFile(present, 'count\n3\n');
    const config = parseSiteConfig({ ...valid(), datasets: { present: 'present.csv', registry: 'missing/registry.csv' } }, join(dir, 'site.yaml'));
    await expect(checkDatasets(config)).rejects.toThrow(/datasets\.registry: .*missing\/registry\.csv does not exist/);
  });

  it('adds an allowed image keeping the comments, once', async () => {
    const file = join(dir, 'allow.yaml');
    await writeFile(file, template);
    const image = { name: 'parley/secure-sum', digest, role: ImageRole.Protocol };
    expect(await addAllowedImage(file, image)).toBe('added');
    expect(await addAllowedImage(file, image)).toBe('unchanged');
    const text = await readFile(file, 'utf8');
    expect(text).toContain('Add one with `parley site allow <image> --role protocol|analysis [--release]`');
    expect(text).toContain('# The smallest count a result may disclose');
    expect((await loadSiteConfig(file)).allowedImages).toEqual([image]);
  });
});
