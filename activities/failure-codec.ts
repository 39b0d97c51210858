/**
 * A payload codec for failures' encoded attributes. With the failure converter's
 * `encodeCommonAttributes` (failure-converter.cjs), a failure's message and stack trace leave the
 * process as one payload `{ message, stack_trace }` instead of plain text in the history. At a
 * site this codec seals that payload for the site's own receive key: an algorithm's failure
 * quotes its last log lines, which may hold data, and the relay must not read them. Where no key
 * is held (the coordinator, the API) nothing is sealed: workflows and the API put only ids and
 * protocol messages in errors.
 *
 * The sealed form is still ordinary failure attributes (JSON), so any client — with or without
 * this codec — reads a failure without error. Its message keeps the original's first line: Parley
 * states what happened, why and what to do there, with ids only (STYLE.md), and anything quoted
 * from outside Parley, such as an algorithm's last log lines, follows on later lines. Those, and
 * the stack trace, are sealed; a process holding the site's key (`openWith`, or the codec
 * server's --key) opens the original.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { openForSelf, sealForSelf, type OrgKeys } from '../crypto/index.ts';
import type { OrgId } from '../common/ids.ts';

/** The failure converter module, for `dataConverter.failureConverterPath` and the workflow bundle. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

export interface FailureCodecOptions {
  /** Seal failure attributes for this organisation's own receive key (a site worker). */
  sealFor?: { org: OrgId; receiveJwk: OrgKeys['receive']['publicJwk'] };
  /** The organisations whose sealed failures this process may open (their key files). */
  openWith?: (org: string) => OrgKeys | undefined;
}

/** Failure attributes as sealed: a readable placeholder, and the original for `org`'s key. */
export interface SealedFailureAttributes {
  message: string;
  stack_trace: string;
  parleySealed: { org: string; jwe: string };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function jsonValue(payload: Payload): unknown {
  if (!payload.metadata?.encoding || decoder.decode(payload.metadata.encoding) !== 'json/plain' || !payload.data) return undefined;
  try {
    return JSON.parse(decoder.decode(payload.data));
  } catch {
    return undefined;
  }
}

const jsonPayload = (value: unknown): Payload => ({ metadata: { encoding: encoder.encode('json/plain') }, data: encoder.encode(JSON.stringify(value)) });

/** True for `{ message, stack_trace }` exactly: what DefaultFailureConverter encodes. */
function isFailureAttributes(value: unknown): value is { message: string; stack_trace: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort();
  return keys.length === 2 && keys[0] === 'message' && keys[1] === 'stack_trace';
}

/** True for attributes this codec sealed. */
export function isSealedFailure(value: unknown): value is SealedFailureAttributes {
  if (typeof value !== 'object' || value === null) return false;
  const sealed = (value as { parleySealed?: { org?: unknown; jwe?: unknown } }).parleySealed;
  return typeof sealed === 'object' && sealed !== null && typeof sealed.org === 'string' && typeof sealed.jwe === 'string';
}

/** The original attributes of a sealed failure when `keys` open it; otherwise undefined. */
export async function openSealedFailure(value: SealedFailureAttributes, keys: OrgKeys | undefined): Promise<unknown> {
  if (!keys || keys.org !== value.parleySealed.org) return undefined;
  const opened = await openForSelf(value.parleySealed.jwe, keys.receive.privateJwk);
  return opened ? (JSON.parse(decoder.decode(opened)) as unknown) : undefined;
}

/** The codec; see the module doc. */
export function createFailureCodec(options: FailureCodecOptions = {}): PayloadCodec {
  return {
    async encode(payloads) {
      const { sealFor } = options;
      if (!sealFor) return payloads;
      return Promise.all(payloads.map(async (payload) => {
        const value = jsonValue(payload);
        if (!isFailureAttributes(value)) return payload;
        const [firstLine = '', ...rest] = value.message.split('\n');
        const sealed: SealedFailureAttributes = {
          message: rest.length === 0 ? firstLine : `${firstLine} [the rest is sealed for "${sealFor.org}": its operator reads it in the site's log, or with \`parley codec-server --key\`]`,
          stack_trace: '',
          parleySealed: { org: sealFor.org, jwe: await sealForSelf(payload.data!, sealFor.receiveJwk) },
        };
        return jsonPayload(sealed);
      }));
    },
    async decode(payloads) {
      const { openWith } = options;
      if (!openWith) return payloads;
      return Promise.all(payloads.map(async (payload) => {
        const value = jsonValue(payload);
        if (!isSealedFailure(value)) return payload;
        const opened = await openSealedFailure(value, openWith(value.parleySealed.org));
        return opened === undefined ? payload : jsonPayload(opened);
      }));
    },
  };
}

/** The data converter of a Parley worker or client: the failure converter and the failure codec. */
export function parleyDataConverter(options: FailureCodecOptions = {}): DataConverter {
  return { failureConverterPath: FAILURE_CONVERTER_PATH, payloadCodecs: [createFailureCodec(options)] };
}
