/**
 * A payload codec for failures' encoded attributes. With the failure converter's
 * `encodeCommonAttributes` (failure-converter.ts), a failure's message and stack trace leave the
 * process as one payload `{ message, stack_trace }` instead of plain text in the history. At a
 * site this codec seals that payload for the site's own receive key: an algorithm's failure
 * quotes its last log lines, which may hold data, and the relay must not read them. Where no key
 * is held (the coordinator, the API) the attributes stay as they are: workflows and the API put
 * only ids and protocol messages in errors.
 *
 * Decoding opens what it can (keys given in `openWith`) and otherwise says whose key the details
 * are sealed for, so a client never fails on a failure it cannot read.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { openForSelf, sealForSelf, type OrgKeys } from '../../crypto/index.ts';
import type { OrgId } from '../../common/ids.ts';

/** The encoding of a sealed failure payload. */
export const SEALED_FAILURE_ENCODING = 'binary/parley-sealed-failure';

export interface FailureCodecOptions {
  /** Seal failure attributes for this organisation's own receive key (a site worker). */
  sealFor?: { org: OrgId; receiveJwk: OrgKeys['receive']['publicJwk'] };
  /** The organisations whose sealed failures this process may open (their key files). */
  openWith?: (org: string) => OrgKeys | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null | undefined) => (bytes ? decoder.decode(bytes) : undefined);

/** True for the payload DefaultFailureConverter makes of a failure's message and stack trace. */
function isFailureAttributes(payload: Payload): boolean {
  if (text(payload.metadata?.encoding) !== 'json/plain' || !payload.data) return false;
  try {
    const value = JSON.parse(decoder.decode(payload.data)) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const keys = Object.keys(value).sort();
    return keys.length === 2 && keys[0] === 'message' && keys[1] === 'stack_trace';
  } catch {
    return false;
  }
}

const jsonPayload = (value: unknown): Payload => ({ metadata: { encoding: encoder.encode('json/plain') }, data: encoder.encode(JSON.stringify(value)) });

/** Decodes one sealed failure payload: opened with a held key, else a placeholder naming the org. */
export async function openSealedFailure(payload: Payload, openWith?: FailureCodecOptions['openWith']): Promise<Payload> {
  const org = text(payload.metadata?.['parley-org']) ?? 'unknown';
  const keys = openWith?.(org);
  const opened = keys && payload.data ? await openForSelf(decoder.decode(payload.data), keys.receive.privateJwk) : undefined;
  if (opened) return { metadata: { encoding: encoder.encode('json/plain') }, data: opened };
  return jsonPayload({
    message: `The details of this failure are sealed for "${org}". Its operator can read them in the site's log, or with \`parley codec-server --key\` and ${org}'s key file.`,
    stack_trace: '',
  });
}

/** The codec; see the module doc. */
export function createFailureCodec(options: FailureCodecOptions = {}): PayloadCodec {
  return {
    async encode(payloads) {
      const { sealFor } = options;
      if (!sealFor) return payloads;
      return Promise.all(payloads.map(async (payload) => {
        if (!isFailureAttributes(payload)) return payload;
        const sealed = await sealForSelf(payload.data!, sealFor.receiveJwk);
        return { metadata: { encoding: encoder.encode(SEALED_FAILURE_ENCODING), 'parley-org': encoder.encode(sealFor.org) }, data: encoder.encode(sealed) };
      }));
    },
    async decode(payloads) {
      return Promise.all(payloads.map((payload) => (text(payload.metadata?.encoding) === SEALED_FAILURE_ENCODING ? openSealedFailure(payload, options.openWith) : payload)));
    },
  };
}
