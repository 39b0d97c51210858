/**
 * An organisation's keys of the other kind Parley accepts — P-256 for ECDH-ES+A256KW and ES256 —
 * made with jose as a system other than Parley would make them (Parley itself makes X25519 /
 * Ed25519). For the tests that check both kinds seal, sign, open and verify.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { parseOrgKeys, type OrgKeys } from '../../crypto/org-keys.ts';
import { jwkThumbprint } from '../../crypto/thumbprint.ts';

export async function p256OrgKeys(org: string): Promise<OrgKeys> {
  const pair = async (alg: string, use: string) => {
    const made = await generateKeyPair(alg, { crv: 'P-256', extractable: true });
    const { kty, crv, x, y, d } = await exportJWK(made.privateKey);
    const publicJwk = { kty, crv, x, y, kid: await jwkThumbprint({ kty, crv, x, y }), alg, use };
    return { privateJwk: { ...publicJwk, d }, publicJwk };
  };
  return parseOrgKeys({ org, receive: await pair('ECDH-ES+A256KW', 'enc'), sign: await pair('ES256', 'sig') });
}
