/**
 * A small typed client of the Parley API, over fetch. Site workers, the CLI and the demo reach
 * the central server only through it (workers never import api/). Failures become ApiClientError
 * carrying the problem document's status, code and detail — never the credential.
 */
import type { ChainOutput, ChainSpec } from '../common/chain.ts';
import type { Envelope } from '../common/envelope.ts';
import type { OrgId } from '../common/ids.ts';
import type { UserRole } from '../common/roles.ts';
import type { RunStatus } from '../common/run-status.ts';
import type { OrgPublicKeys } from '../crypto/index.ts';

/** ApiClientError's code when a blob is longer than the reader asked for (its reference is wrong). */
export const BLOB_TOO_LONG = 'ERR_BLOB_TOO_LONG';

/** The API answered with an RFC 9457 problem document (or could not be reached: status 0). */
export class ApiClientError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, message: string, code?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiClientError';
    this.status = status;
    this.code = code;
  }
}

export interface RunView {
  id: string;
  collaborationId: string;
  protocol: string;
  participants: OrgId[];
  status: RunStatus;
  hasResult: boolean;
  /** Ring runs. */
  image?: { name: string; digest: string };
  /** Chain runs (protocol `chain`): the chain as started. */
  chain?: ChainSpec;
  requester?: { userId: string; orgId: OrgId };
  createdAt: string;
  updatedAt: string;
}

export interface StartRunRequest {
  collaborationId: string;
  participants?: OrgId[];
  modulus: string;
  dataset: string;
  image: { name: string; digest: string };
  /** The run's manifest, signed by the requester's organisation (researcher/signRun). */
  manifest: string;
  /** How long a step may wait for its site's worker before the run fails naming the site; 15 min when absent. */
  siteDownToleranceMs?: number;
}

/** A chain run request: the resolved chain, and who takes part (default: every live site but yours). */
export interface StartChainRunRequest {
  collaborationId: string;
  chain: ChainSpec;
  participants?: OrgId[];
  /** The run's manifest, signed by the requester's organisation (researcher/signRun). */
  manifest: string;
  /** How long a step may wait for its site's worker before the run fails naming the site; 15 min when absent. */
  siteDownToleranceMs?: number;
}

/** Where one site's part of one step stands. */
export interface SiteProgressView {
  step: string;
  siteStep: string;
  org: OrgId;
  state: 'pending' | 'scheduled' | 'running' | 'done' | 'failed' | 'cancelled';
}

export interface RunProgressView {
  runId: string;
  status: RunView['status'];
  /** Pass back as `after` (with `waitSeconds`) to wait for the next change. */
  cursor: number;
  sites: SiteProgressView[];
}

export interface ApiClient {
  readonly baseUrl: string;
  /** A copy of this client that sends `token` as its bearer credential. */
  withToken(token: string): ApiClient;
  login(username: string, password: string): Promise<{ accessToken: string; expiresAt: string; user: { id: string; username: string; orgId: OrgId; role: UserRole } }>;
  createOrganisation(body: { id: OrgId; name: string; keys?: OrgPublicKeys }): Promise<unknown>;
  publishKeys(org: OrgId, keys: OrgPublicKeys): Promise<unknown>;
  organisationKeys(org: OrgId): Promise<OrgPublicKeys>;
  createUser(body: { username: string; password: string; orgId: OrgId; role: UserRole }): Promise<{ id: string }>;
  /** Users of the caller's organisation (every user, for a server admin). */
  users(): Promise<{ users: Array<{ id: string; username: string; orgId: OrgId; role: UserRole; disabled: boolean }> }>;
  /** Disables or enables a user (server admin). */
  setUserDisabled(userId: string, disabled: boolean): Promise<{ id: string; username: string; disabled: boolean }>;
  /** Revokes every access token of a user (server admin). */
  revokeUserTokens(userId: string): Promise<unknown>;
  /** Revokes the token this client sends. */
  logout(): Promise<void>;
  createCollaboration(body: { name: string; members: OrgId[] }): Promise<{ id: string; name: string }>;
  addMember(collaborationId: string, orgId: OrgId): Promise<unknown>;
  /** Collaborations the caller takes part in (all of them, for a server admin or auditor). */
  collaborations(): Promise<{ collaborations: Array<{ id: string; name: string; members: Array<{ orgId: OrgId }> }> }>;
  /** `enrolment`: the organisation's consent, signSiteEnrolment(keys, collaborationId) from crypto/. */
  registerSite(body: { collaborationId: string; orgId: OrgId; enrolment: string }): Promise<{ site: { id: string }; credential: string }>;
  startRun(body: StartRunRequest): Promise<RunView>;
  run(runId: string, options?: { waitSeconds?: number }): Promise<RunView>;
  runResult(runId: string): Promise<{ runId: string; envelope: Envelope }>;
  startChainRun(body: StartChainRunRequest): Promise<RunView>;
  /** Who would take part in a run started now (every live site but yours), to sign into its manifest. */
  runParticipants(body: { collaborationId: string; chain?: ChainSpec }): Promise<{ collaborationId: string; requester: OrgId; participants: OrgId[] }>;
  /** The caller's organisation's runs, newest first. */
  runs(): Promise<{ runs: RunView[] }>;
  cancelRun(runId: string): Promise<RunView>;
  /** With `waitSeconds` and `after` (an earlier answer's cursor), answers once that changes. */
  runProgress(runId: string, options?: { waitSeconds?: number; after?: number }): Promise<RunProgressView>;
  /** A chain run's outputs, sealed for the caller's organisation; a ring run answers with its envelope. */
  chainRunResult(runId: string): Promise<{ runId: string; outputs: ChainOutput[] } | { runId: string; envelope: Envelope }>;
  /**
   * Stores a blob of the run under `digest` (SHA-256 of its bytes, base64url); idempotent. Site
   * credential. A {@link BlobBody} streams: the blob is never in memory whole.
   */
  putBlob(runId: string, digest: string, bytes: Uint8Array | BlobBody): Promise<{ stored: boolean }>;
  /**
   * Reads a blob of the run, refusing (ApiClientError, status 0) an answer longer than `maxBytes`
   * without reading the rest. The caller checks the bytes against the digest it asked for.
   */
  getBlob(runId: string, digest: string, maxBytes: number): Promise<Uint8Array>;
  /** {@link getBlob} as a stream: the refusal of a longer answer comes as the stream's error. */
  getBlobStream(runId: string, digest: string, maxBytes: number): Promise<AsyncIterable<Uint8Array>>;
}

/** A blob's bytes as a stream, and their length (sent ahead as Content-Length). */
export interface BlobBody {
  size: number;
  stream: AsyncIterable<Uint8Array>;
}

/** Creates a client for the API at `baseUrl` (e.g. http://127.0.0.1:8620). */
export function createApiClient(baseUrl: string, token?: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiClientError(0, `The Parley API at ${base} did not answer (${(err as Error).message}). Is the server running? (parley server start)`, undefined, { cause: err });
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const problem = (parsed ?? {}) as { title?: string; detail?: string; code?: string };
      throw new ApiClientError(response.status, `${method} ${path}: ${problem.detail ?? problem.title ?? `HTTP ${response.status}`}`, problem.code);
    }
    return parsed as T;
  };
  const enc = encodeURIComponent;
  const blobPath = (runId: string, digest: string) => `/v1/blobs/${enc(runId)}/${enc(digest)}`;
  const authorization: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  /** Fetch for blob routes: their bodies are bytes, not JSON; failures still carry the problem document. */
  const blobFetch = async (method: string, path: string, init: RequestInit): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { method, ...init, headers: { ...authorization, ...(init.headers as Record<string, string> | undefined) } });
    } catch (err) {
      throw new ApiClientError(0, `The Parley API at ${base} did not answer (${(err as Error).message}). Is the server running? (parley server start)`, undefined, { cause: err });
    }
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { title?: string; detail?: string; code?: string };
      throw new ApiClientError(response.status, `${method} ${path}: ${problem.detail ?? problem.title ?? `HTTP ${response.status}`}`, problem.code);
    }
    return response;
  };
  const getBlobStream = async (runId: string, digest: string, maxBytes: number): Promise<AsyncIterable<Uint8Array>> => {
    const path = blobPath(runId, digest);
    const response = await blobFetch('GET', path, { headers: { accept: 'application/octet-stream' } });
    // Read up to the size the reference names and no further: a relay cannot make a site
    // read more than the message it expects.
    return (async function* () {
      let size = 0;
      for await (const chunk of response.body ?? []) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          await response.body?.cancel().catch(() => undefined);
          throw new ApiClientError(0, `GET ${path}: the blob is longer than the ${maxBytes} bytes asked for.`, BLOB_TOO_LONG);
        }
        yield chunk;
      }
    })();
  };
  return {
    baseUrl: base,
    withToken: (next) => createApiClient(base, next),
    login: (username, password) => call('POST', '/v1/login', { username, password }),
    createOrganisation: (body) => call('POST', '/v1/organisations', body),
    publishKeys: (org, keys) => call('POST', `/v1/organisations/${enc(org)}/keys`, keys),
    organisationKeys: (org) => call('GET', `/v1/organisations/${enc(org)}/keys`),
    createUser: (body) => call('POST', '/v1/users', body),
    users: () => call('GET', '/v1/users'),
    setUserDisabled: (userId, disabled) => call('PATCH', `/v1/users/${enc(userId)}`, { disabled }),
    revokeUserTokens: (userId) => call('POST', `/v1/users/${enc(userId)}/revoke-tokens`),
    logout: () => call('POST', '/v1/logout'),
    createCollaboration: (body) => call('POST', '/v1/collaborations', body),
    addMember: (collaborationId, orgId) => call('POST', `/v1/collaborations/${enc(collaborationId)}/members`, { orgId }),
    collaborations: () => call('GET', '/v1/collaborations'),
    registerSite: (body) => call('POST', '/v1/sites', body),
    startRun: (body) => call('POST', '/v1/runs', body),
    run: (runId, options) => call('GET', `/v1/runs/${enc(runId)}${options?.waitSeconds ? `?wait=${options.waitSeconds}` : ''}`),
    runResult: (runId) => call('GET', `/v1/runs/${enc(runId)}/result`),
    startChainRun: (body) => call('POST', '/v1/runs', body),
    runParticipants: (body) => call('POST', '/v1/runs/participants', body),
    runs: () => call('GET', '/v1/runs'),
    cancelRun: (runId) => call('POST', `/v1/runs/${enc(runId)}/cancel`),
    runProgress: (runId, options) => {
      const query = new URLSearchParams();
      if (options?.waitSeconds) query.set('wait', String(options.waitSeconds));
      if (options?.after !== undefined) query.set('after', String(options.after));
      return call('GET', `/v1/runs/${enc(runId)}/progress${query.size ? `?${query}` : ''}`);
    },
    chainRunResult: (runId) => call('GET', `/v1/runs/${enc(runId)}/result`),
    async putBlob(runId, digest, bytes) {
      const streamed = !(bytes instanceof Uint8Array);
      const response = await blobFetch('PUT', blobPath(runId, digest), {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(streamed ? bytes.size : bytes.byteLength) },
        // A stream goes out as it is read (fetch's half-duplex upload), never gathered first.
        ...(streamed ? { body: ReadableStream.from(bytes.stream), duplex: 'half' } : { body: bytes }),
      } as RequestInit);
      return (await response.json()) as { stored: boolean };
    },
    async getBlob(runId, digest, maxBytes) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of await getBlobStream(runId, digest, maxBytes)) chunks.push(chunk);
      return Buffer.concat(chunks);
    },
    getBlobStream,
  };
}
