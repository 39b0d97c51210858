import { describe, expect, it } from 'vitest';
import { generateOrgKeys } from './org-keys.ts';
import { fingerprint, isThumbprint, jwkThumbprint, jwkThumbprintSync } from './thumbprint.ts';

// RFC 7638 §3.1, "Example JWK Thumbprint Computation".
const RFC7638_JWK = {
  kty: 'RSA',
  n:
    '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP' +
    'ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY' +
    '368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f' +
    'M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};
const RFC7638_THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

describe('RFC 7638 §3.1 example', () => {
  it('gives the RFC thumbprint', async () => {
    expect(await jwkThumbprint(RFC7638_JWK)).toBe(RFC7638_THUMBPRINT);
  });

  it('gives the RFC thumbprint synchronously too', () => {
    expect(jwkThumbprintSync(RFC7638_JWK)).toBe(RFC7638_THUMBPRINT);
  });
});

describe('jwkThumbprint', () => {
  it('agrees with the synchronous form on generated keys, private and public halves alike', async () => {
    const keys = await generateOrgKeys('north');
    for (const pair of [keys.receive, keys.sign]) {
      const thumbprint = await jwkThumbprint(pair.publicJwk);
      expect(thumbprint).toBe(pair.publicJwk.kid);
      expect(jwkThumbprintSync(pair.publicJwk)).toBe(thumbprint);
      expect(jwkThumbprintSync(pair.privateJwk)).toBe(thumbprint);
    }
  });

  it('ignores members that RFC 7638 does not require', () => {
    expect(jwkThumbprintSync({ ...RFC7638_JWK, use: 'sig', kid: 'other' })).toBe(RFC7638_THUMBPRINT);
  });

  it('refuses a JWK without its required members', () => {
    expect(() => jwkThumbprintSync({ kty: 'OKP', crv: 'Ed25519' })).toThrow(TypeError);
    expect(() => jwkThumbprintSync({ kty: 'EC', crv: 'P-256', x: 'AAAA' })).toThrow(/"y"/);
    expect(() => jwkThumbprintSync({ kty: 'unknown' })).toThrow(/kty/);
  });
});

describe('fingerprint', () => {
  it('shows the first 16 characters in groups of four', () => {
    expect(fingerprint(RFC7638_THUMBPRINT)).toBe('NzbL:sXh8:uDCc:d-6M');
  });

  it('refuses anything that is not a thumbprint', () => {
    expect(() => fingerprint('short')).toThrow(TypeError);
    expect(isThumbprint(RFC7638_THUMBPRINT)).toBe(true);
    expect(isThumbprint(`${RFC7638_THUMBPRINT}=`)).toBe(false);
  });
});
