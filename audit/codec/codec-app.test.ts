import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KeyDirectory } from '../../activities/key-directory.ts';
import { createHash } from 'node:crypto';
import { generateOrgKeys, newFileKey, publicKeysOf, sealBodyStream, sealEnvelope, type OrgKeys } from '../../crypto/index.ts';
import type { Envelope } from '../../common/envelope.ts';
import { CODEC_MAX_BODY_BYTES } from './describe-envelope.ts';
import type { AuditBundle } from '../audit-bundle.ts';
import { createCodecApp } from './codec-app.ts';
import { newCodecToken } from './codec-guard.ts';
import { createFailureCodec } from '../../activities/failure-codec.ts';
import { jsonOf, jsonPayload, type JsonPayload } from '../proto-payloads.ts';

const UI = 'http://localhost:8233';
const TOKEN = newCodecToken();
const GOLDEN = fileURLToPath(new URL('../../test/golden/secure-sum-ring-3.json', import.meta.url));

let north: OrgKeys;
let south: OrgKeys;
let directory: KeyDirectory;
let payload: JsonPayload;
// A value only the envelope's content holds: it must never appear unless opened with south's key.
const SECRET = '987654';

beforeAll(async () => {
  [north, south] = await Promise.all([generateOrgKeys('codec-north'), generateOrgKeys('codec-south')]);
  const published = new Map([north, south].map((k) => [k.org, publicKeysOf(k)]));
  directory = { publicKeys: async (org) => published.get(org) };
  const envelope = await sealEnvelope({
    binding: { runId: 'run-1', step: 'ring.0.start', from: 'codec-north', to: ['codec-south'], seq: 0 },
    body: new TextEncoder().encode(JSON.stringify({ partial: SECRET })),
    sender: north,
    recipients: [{ org: 'codec-south', receiveJwk: publicKeysOf(south).receive.jwk }],
  });
  payload = jsonPayload({ step: 'ring.0.start', org: 'codec-north', envelopes: [envelope] });
});

/** A POST as the Web UI makes it (the token in the endpoint's path), or as the CLI (the token as a header, no Origin). */
function post(app: ReturnType<typeof createCodecApp>, path: string, body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) {
  return app.request(path, {
    method: 'POST',
    headers: { Host: '127.0.0.1:8081', Origin: UI, 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
    body: JSON.stringify(body),
  });
}

async function decoded(app: ReturnType<typeof createCodecApp>, payloads: JsonPayload[]): Promise<unknown[]> {
  const response = await post(app, '/decode', { payloads });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { payloads: JsonPayload[] };
  expect(body.payloads).toHaveLength(payloads.length);
  return body.payloads.map(jsonOf);
}

describe('codec server', () => {
  it('answers the Web UI\'s CORS preflight for its origin, with the headers the UI sends', async () => {
    const response = await createCodecApp({ token: TOKEN }).request('/decode', {
      method: 'OPTIONS',
      headers: { Origin: UI, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace,authorization' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const allowed = response.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'x-namespace', 'authorization']));
  });

  it('does not allow another origin', async () => {
    const response = await createCodecApp({ token: TOKEN }).request('/decode', { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const configured = await createCodecApp({ token: TOKEN, corsOrigins: ['https://ui.example'] }).request('/decode', { method: 'OPTIONS', headers: { Origin: 'https://ui.example', 'Access-Control-Request-Method': 'POST' } });
    expect(configured.headers.get('access-control-allow-origin')).toBe('https://ui.example');
  });

  it('decodes a recorded history\'s payloads into envelope metadata, in the protocol\'s shape', async () => {
    const bundle = JSON.parse(await readFile(GOLDEN, 'utf8')) as AuditBundle;
    const completed = bundle.histories[0]!.history.events.find((e) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED')!;
    const recorded = (completed.activityTaskCompletedEventAttributes as { result: { payloads: JsonPayload[] } }).result.payloads;
    const response = await post(createCodecApp({ token: TOKEN }), '/default/decode', { payloads: recorded });
    expect(response.headers.get('access-control-allow-origin')).toBe(UI);
    const body = (await response.json()) as { payloads: JsonPayload[] };
    expect(body.payloads[0]!.metadata).toEqual({ encoding: Buffer.from('json/plain').toString('base64') });
    const outcome = jsonOf(body.payloads[0]!) as { envelopes: Array<{ parleyEnvelope: Record<string, unknown> }>; attestation: unknown };
    expect(outcome.envelopes[0]!.parleyEnvelope).toMatchObject({
      runId: 'golden-secure-sum-ring-3', step: 'ring.0.start', from: 'audit-north', to: ['audit-south'], seq: 0,
      senderKid: expect.stringMatching(/^[\w-]{43}$/), recipientKids: [expect.stringMatching(/^[\w-]{43}$/)], signature: 'unknown',
    });
    expect(JSON.stringify(outcome)).not.toMatch(/"jwe"|"iv"|"tag"|"sig"/);
    expect(outcome.attestation).toMatchObject({ parleyAttestation: { claims: { step: 'ring.0.start', org: 'audit-north', ran: expect.stringMatching(/^sha256:/) }, signature: 'unknown' } });
  });

  it('never shows an envelope\'s content without the key of an organisation it was sealed for', async () => {
    for (const app of [createCodecApp({ token: TOKEN }), createCodecApp({ token: TOKEN, directory }), createCodecApp({ token: TOKEN, directory, keys: north })]) {
      const [value] = await decoded(app, [payload]);
      expect(JSON.stringify(value)).not.toContain(SECRET);
      expect((value as { envelopes: Array<{ parleyEnvelope: { opened?: unknown } }> }).envelopes[0]!.parleyEnvelope.opened).toBeUndefined();
    }
    const [verified] = await decoded(createCodecApp({ token: TOKEN, directory }), [payload]);
    expect((verified as { envelopes: Array<{ parleyEnvelope: { signature: string } }> }).envelopes[0]!.parleyEnvelope.signature).toBe('verified');
  });

  it('opens, with a recipient\'s key, what was sealed for it, and marks an altered envelope invalid', async () => {
    const [value] = await decoded(createCodecApp({ token: TOKEN, directory, keys: south }), [payload]);
    expect((value as { envelopes: Array<{ parleyEnvelope: unknown }> }).envelopes[0]!.parleyEnvelope).toMatchObject({ signature: 'verified', opened: { by: 'codec-south', content: { partial: SECRET } } });

    const outcome = jsonOf(payload) as { envelopes: Array<{ jwe: { tag: string } }> };
    outcome.envelopes[0]!.jwe.tag = `${outcome.envelopes[0]!.jwe.tag.startsWith('A') ? 'B' : 'A'}${outcome.envelopes[0]!.jwe.tag.slice(1)}`;
    const [altered] = await decoded(createCodecApp({ token: TOKEN, directory, keys: south }), [jsonPayload(outcome)]);
    expect((altered as { envelopes: Array<{ parleyEnvelope: unknown }> }).envelopes[0]!.parleyEnvelope).toMatchObject({ signature: 'invalid', notOpened: 'ERR_ENVELOPE_TAMPERED' });
  });

  it('shows a failure sealed at a site as whose it is, and opens it with that site\'s key', async () => {
    const codec = createFailureCodec({ sealFor: { org: 'codec-south', receiveJwk: south.receive.publicJwk } });
    const attributes = { message: `Step "s" failed at site "codec-south". Its last log lines:\ncount=${SECRET}`, stack_trace: 'at main.js:1' };
    const [sealed] = await codec.encode([{ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(attributes)) }]);
    const asJson: JsonPayload = {
      metadata: Object.fromEntries(Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
      data: Buffer.from(sealed!.data!).toString('base64'),
    };
    // Still failure attributes any client reads, the original sealed inside.
    expect(jsonOf(asJson)).toMatchObject({ message: 'Step "s" failed at site "codec-south". Its last log lines: [the rest is sealed for "codec-south": its operator reads it in the site\'s log, or with `parley codec-server --key`]', stack_trace: '', parleySealed: { org: 'codec-south' } });
    expect(JSON.stringify(jsonOf(asJson))).not.toContain(SECRET);
    const [hidden] = await decoded(createCodecApp({ token: TOKEN, directory, keys: north }), [asJson]);
    expect(JSON.stringify(hidden)).not.toContain(SECRET);
    const [opened] = await decoded(createCodecApp({ token: TOKEN, directory, keys: south }), [asJson]);
    expect(opened).toEqual(attributes);

    // A message of Parley's own, on one line, stays as it was: only the stack trace is sealed.
    const oneLine = { message: 'Step "s" did not run: image x@sha256:… is not on site "codec-south"\'s allow-list. Ask its operator.', stack_trace: 'at allow-list.ts:1' };
    const [kept] = await codec.encode([{ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(oneLine)) }]);
    expect(JSON.parse(new TextDecoder().decode(kept!.data!))).toMatchObject({ message: oneLine.message, stack_trace: '' });
  });

  it('encodes as the identity, leaves other payloads alone, and refuses a body that is not the protocol\'s', async () => {
    const other = jsonPayload({ hello: 'world' });
    const response = await post(createCodecApp({ token: TOKEN }), '/encode', { payloads: [payload, other] });
    expect(await response.json()).toEqual({ payloads: [payload, other] });
    expect(await decoded(createCodecApp({ token: TOKEN }), [other])).toEqual([{ hello: 'world' }]);
    expect((await post(createCodecApp({ token: TOKEN }), '/decode', { nope: [] })).status).toBe(400);
  });

  describe('a large message, its body detached', () => {
    const DETACHED_SECRET = `${SECRET}-detached`;
    let detached: { envelope: Envelope; sealed: Buffer; fileKey: string };
    const fetched: string[] = [];
    // The blob store as an auditor reads it (GET /v1/blobs/{run}/{digest}), or an altered one.
    const store = (bodies: Map<string, Uint8Array>) => async (_run: string, digest: string) => {
      fetched.push(digest);
      const bytes = bodies.get(digest);
      if (bytes === undefined) throw Object.assign(new Error('not found'), { status: 404 });
      return bytes;
    };
    beforeAll(async () => {
      const fileKey = newFileKey();
      const keyText = fileKey.toString('base64url');
      const pieces: Buffer[] = [];
      for await (const piece of sealBodyStream((async function* () { yield Buffer.from(JSON.stringify({ partial: DETACHED_SECRET, pad: 'x'.repeat(100_000) })); })(), fileKey)) pieces.push(piece);
      const sealed = Buffer.concat(pieces);
      const envelope = await sealEnvelope({
        binding: { runId: 'run-1', step: 'ring.0.start', from: 'codec-north', to: ['codec-south'], seq: 1 },
        detached: { fileKey, digest: createHash('sha256').update(sealed).digest('base64url'), size: sealed.length },
        sender: north,
        recipients: [{ org: 'codec-south', receiveJwk: publicKeysOf(south).receive.jwk }],
      });
      detached = { envelope, sealed, fileKey: keyText };
    });
    const viewOf = async (app: ReturnType<typeof createCodecApp>) => {
      const [value] = await decoded(app, [jsonPayload({ envelopes: [detached.envelope] })]);
      return (value as { envelopes: Array<{ parleyEnvelope: Record<string, unknown> }> }).envelopes[0]!.parleyEnvelope;
    };

    it('is shown as detached, with its digest and size, and never its key or content without a recipient\'s key', async () => {
      for (const app of [createCodecApp({ token: TOKEN }), createCodecApp({ token: TOKEN, directory, keys: north, blobs: store(new Map([[detached.envelope.detached!.digest, detached.sealed]])) })]) {
        const view = await viewOf(app);
        expect(view).toMatchObject({ detached: detached.envelope.detached, seq: 1 });
        expect(view.opened).toBeUndefined();
        const text = JSON.stringify(view);
        expect(text).not.toContain(DETACHED_SECRET);
        expect(text).not.toContain(detached.fileKey);
      }
    });

    it('opens for a recipient once the body fetched from the blob store is the signed one', async () => {
      const view = await viewOf(createCodecApp({ token: TOKEN, directory, keys: south, blobs: store(new Map([[detached.envelope.detached!.digest, detached.sealed]])) }));
      expect(view).toMatchObject({ signature: 'verified', detached: detached.envelope.detached, opened: { by: 'codec-south', content: { partial: DETACHED_SECRET } } });
      expect(JSON.stringify(view)).not.toContain(detached.fileKey);
    });

    it('refuses a body the store altered or swapped, and says why one is not fetched', async () => {
      const flipped = Buffer.from(detached.sealed);
      flipped[50]! ^= 1;
      const altered = await viewOf(createCodecApp({ token: TOKEN, directory, keys: south, blobs: store(new Map([[detached.envelope.detached!.digest, flipped]])) }));
      expect(altered).toMatchObject({ signature: 'verified', notOpened: 'ERR_ENVELOPE_TAMPERED (body-digest)' });
      expect(altered.opened).toBeUndefined();
      const gone = await viewOf(createCodecApp({ token: TOKEN, directory, keys: south, blobs: store(new Map()) }));
      expect(gone.notOpened).toMatch(/its body travels beside the history \(\d+ bytes, SHA-256 [\w-]{43}\), and it could not be fetched \(not in the blob store: removed with the run's retention\)/);
      const noApi = await viewOf(createCodecApp({ token: TOKEN, directory, keys: south }));
      expect(noApi.notOpened).toMatch(/start the codec server with --api URL to fetch it, or read it with `parley audit open`/);
      expect(JSON.stringify([altered, gone, noApi])).not.toContain(DETACHED_SECRET);
    });

    it('does not fetch a body larger than a page can show', async () => {
      fetched.length = 0;
      const big = await sealEnvelope({
        binding: { runId: 'run-1', step: 'ring.0.start', from: 'codec-north', to: ['codec-south'], seq: 2 },
        detached: { fileKey: newFileKey(), digest: detached.envelope.detached!.digest, size: CODEC_MAX_BODY_BYTES + 1 },
        sender: north,
        recipients: [{ org: 'codec-south', receiveJwk: publicKeysOf(south).receive.jwk }],
      });
      const [value] = await decoded(createCodecApp({ token: TOKEN, directory, keys: south, blobs: store(new Map()) }), [jsonPayload({ envelopes: [big] })]);
      expect((value as { envelopes: Array<{ parleyEnvelope: { notOpened: string } }> }).envelopes[0]!.parleyEnvelope.notOpened).toMatch(/more than the 4\.0 MiB this server shows; read it with `parley audit export` then `parley audit open`/);
      expect(fetched).toEqual([]);
    });
  });

  describe('refuses whoever lacks its token, names another host or calls from another origin', () => {
    const opener = () => createCodecApp({ token: TOKEN, directory, keys: south });
    // A refusal carries an error and no payloads, decoded or not.
    const opensNothing = async (response: Response) => {
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(['error']);
    };
    const openedContent = async (response: Response) => JSON.stringify(((await response.json()) as { payloads: JsonPayload[] }).payloads.map(jsonOf));

    it('answers a call without a token with 401 and opens nothing', async () => {
      const response = await post(opener(), '/decode', { payloads: [payload] }, {});
      expect(response.status).toBe(401);
      const body = await response.text();
      expect(body).toMatch(/needs its token/);
      expect(body).not.toContain(TOKEN);
      expect(Object.keys(JSON.parse(body) as object)).toEqual(['error']);
    });

    it('answers a wrong token, in the header or in the path, with 401', async () => {
      for (const [path, headers] of [
        ['/decode', { Authorization: `Bearer ${newCodecToken()}` }],
        ['/decode', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
        ['/decode', { Authorization: TOKEN }],
        [`/t/${newCodecToken()}/decode`, {}],
        [`/t/${TOKEN}x/decode`, {}],
      ] as const) {
        const response = await post(opener(), path, { payloads: [payload] }, headers);
        expect(response.status).toBe(401);
        await opensNothing(response);
      }
    });

    it('opens for the token in the Web UI\'s endpoint path, and in the CLI\'s --codec-auth header', async () => {
      for (const [path, headers] of [[`/t/${TOKEN}/decode`, {}], [`/t/${TOKEN}/default/decode`, {}], ['/decode', { Authorization: `Bearer ${TOKEN}` }]] as const) {
        const response = await post(opener(), path, { payloads: [payload] }, headers);
        expect(response.status).toBe(200);
        expect(await openedContent(response)).toContain(SECRET);
      }
    });

    it('refuses a DNS-rebinding call — the right token, but the Host of an attacker\'s name — with 403', async () => {
      for (const host of ['evil.example:8081', 'evil.example', '127.0.0.1.evil.example', 'user@127.0.0.1', '']) {
        const response = await opener().request('/decode', {
          method: 'POST', headers: { Host: host, 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ payloads: [payload] }),
        });
        expect(response.status).toBe(403);
        await opensNothing(response);
      }
      for (const host of ['localhost:8081', '127.0.0.1:9', '[::1]:8081']) {
        const response = await opener().request('/decode', {
          method: 'POST', headers: { Host: host, 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ payloads: [payload] }),
        });
        expect(response.status).toBe(200);
      }
      const named = createCodecApp({ token: TOKEN, hostnames: ['codec.internal'] });
      expect((await named.request('/healthz', { headers: { Host: 'codec.internal:8081' } })).status).toBe(200);
      expect((await named.request('/healthz', { headers: { Host: 'evil.example:8081' } })).status).toBe(403);
    });

    it('refuses a page of a foreign origin, even with the token, and even for a text/plain POST that skips preflight', async () => {
      for (const origin of ['https://evil.example', 'null', 'http://localhost:8234']) {
        for (const contentType of ['application/json', 'text/plain']) {
          const response = await post(opener(), `/t/${TOKEN}/decode`, { payloads: [payload] }, { Origin: origin, 'Content-Type': contentType });
          expect(response.status).toBe(403);
          expect(response.headers.get('access-control-allow-origin')).toBeNull();
          await opensNothing(response);
        }
      }
    });

    it('refuses to start with a short token', () => {
      expect(() => createCodecApp({ token: 'short' })).toThrow(TypeError);
    });
  });
});
