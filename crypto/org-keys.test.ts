import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { generateOrgKeys, parseOrgKeys, parseOrgPublicKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { jwkThumbprint } from './thumbprint.ts';

let keys: OrgKeys;
beforeAll(async () => {
  keys = await generateOrgKeys('north');
});

/** A JSON copy, editable, as if read back from a file or the API. */
function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Runs `parse` expecting KeyInvalid; returns the error after checking it leaks no private scalar. */
function keyInvalid(parse: () => unknown): ParleyError {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyError);
    const error = err as ParleyError;
    expect(error.code).toBe(ErrorCode.KeyInvalid);
    const shown = `${error.message} ${JSON.stringify(error.details)}`;
    expect(shown).not.toContain(keys.receive.privateJwk.d);
    expect(shown).not.toContain(keys.sign.privateJwk.d);
    return error;
  }
  throw new Error('expected a KeyInvalid error');
}

describe('generateOrgKeys', () => {
  it('makes an X25519 receive pair and an Ed25519 sign pair', () => {
    expect(keys.org).toBe('north');
    expect(keys.receive.publicJwk).toMatchObject({ kty: 'OKP', crv: 'X25519', alg: 'ECDH-ES+A256KW', use: 'enc' });
    expect(keys.sign.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', use: 'sig' });
    expect(keys.receive.privateJwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keys.sign.publicJwk).not.toHaveProperty('d');
  });

  it('names every key by its RFC 7638 thumbprint', async () => {
    for (const pair of [keys.receive, keys.sign]) {
      expect(pair.publicJwk.kid).toBe(await jwkThumbprint(pair.publicJwk));
      expect(pair.privateJwk.kid).toBe(pair.publicJwk.kid);
    }
  });

  it('makes different keys every time', async () => {
    const again = await generateOrgKeys('north');
    expect(again.receive.publicJwk.kid).not.toBe(keys.receive.publicJwk.kid);
    expect(again.sign.publicJwk.kid).not.toBe(keys.sign.publicJwk.kid);
  });

  it('returns frozen, JSON-serialisable keys', () => {
    expect(Object.isFrozen(keys.sign.privateJwk)).toBe(true);
    expect(parseOrgKeys(json(keys))).toEqual(keys);
  });

  it('refuses an org id that is not a slug', async () => {
    await expect(generateOrgKeys('North Hospital')).rejects.toThrow(TypeError);
  });
});

describe('publicKeysOf', () => {
  it('publishes the public halves with their thumbprints and nothing private', () => {
    const published = publicKeysOf(keys);
    expect(published).toEqual({
      org: 'north',
      receive: { jwk: keys.receive.publicJwk, thumbprint: keys.receive.publicJwk.kid },
      sign: { jwk: keys.sign.publicJwk, thumbprint: keys.sign.publicJwk.kid },
    });
    expect(JSON.stringify(published)).not.toContain('"d"');
    expect(parseOrgPublicKeys(json(published))).toEqual(published);
  });
});

describe('parseOrgKeys', () => {
  it('refuses a document that is not an object', () => {
    expect(keyInvalid(() => parseOrgKeys('north')).message).toMatch(/^Organisation keys are invalid: the document must be an object\. /);
  });

  it('refuses a bad org id', () => {
    const edited = { ...json(keys), org: '../etc' };
    expect(keyInvalid(() => parseOrgKeys(edited)).details.field).toBe('org');
  });

  it('refuses a receive key on the wrong curve, naming the field and the accepted kinds', () => {
    const edited = json(keys);
    (edited.receive.publicJwk as { crv: string }).crv = 'Ed25519';
    const error = keyInvalid(() => parseOrgKeys(edited));
    expect(error.details.field).toBe('receive.publicJwk');
    expect(error.message).toMatch(/receive\.publicJwk "kty"\/"crv" must be one of OKP\/X25519, EC\/P-256/);
    expect(error.message).toMatch(/Restore the key file from a backup/);
  });

  it('refuses a private key without its private scalar', () => {
    const edited = json(keys) as unknown as { sign: { privateJwk: Record<string, unknown> } };
    delete edited.sign.privateJwk.d;
    expect(keyInvalid(() => parseOrgKeys(edited)).message).toMatch(/sign\.privateJwk "d" must be 32 bytes/);
  });

  it('refuses a private key with a mangled scalar without showing it', () => {
    const edited = json(keys);
    (edited.sign.privateJwk as { d: string }).d = `${keys.sign.privateJwk.d}x`;
    const error = keyInvalid(() => parseOrgKeys(edited));
    expect(error.message).not.toContain(edited.sign.privateJwk.d);
  });

  it('refuses halves of two different key pairs', async () => {
    const other = await generateOrgKeys('north');
    const edited = { ...json(keys), sign: { privateJwk: json(other.sign.privateJwk), publicJwk: json(keys.sign.publicJwk) } };
    expect(keyInvalid(() => parseOrgKeys(edited)).message).toMatch(/not one key pair/);
  });

  it('refuses a kid that is not the key thumbprint', () => {
    const edited = json(keys);
    (edited.receive.publicJwk as { kid: string }).kid = keys.sign.publicJwk.kid;
    expect(keyInvalid(() => parseOrgKeys(edited)).message).toMatch(/"kid" is not this key's RFC 7638 thumbprint/);
  });

  it('refuses unexpected members', () => {
    const edited = json(keys);
    (edited.sign.publicJwk as Record<string, unknown>).key_ops = ['verify'];
    expect(keyInvalid(() => parseOrgKeys(edited)).message).toMatch(/unexpected member "key_ops"/);
  });
});

describe('parseOrgPublicKeys', () => {
  it('refuses a published key that carries a private member', () => {
    const published = json(publicKeysOf(keys)) as unknown as { receive: { jwk: Record<string, unknown> } };
    published.receive.jwk.d = keys.receive.privateJwk.d;
    const error = keyInvalid(() => parseOrgPublicKeys(published));
    expect(error.message).toMatch(/^Published organisation keys are invalid: receive\.jwk must be a public key/);
  });

  it('refuses a thumbprint that does not match the key', () => {
    const published = json(publicKeysOf(keys));
    published.sign.thumbprint = keys.receive.publicJwk.kid;
    expect(keyInvalid(() => parseOrgPublicKeys(published)).details.field).toBe('sign.thumbprint');
  });

  it('refuses a signing key of the wrong kind', () => {
    const published = json(publicKeysOf(keys));
    published.sign = json(publicKeysOf(keys).receive);
    expect(keyInvalid(() => parseOrgPublicKeys(published)).message).toMatch(/sign\.jwk "kty"\/"crv" must be one of OKP\/Ed25519, EC\/P-256/);
  });
});
