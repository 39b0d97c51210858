/**
 * The arguments every protocol step of a chain's secure sum gets besides its role and neighbours.
 * Written once: the coordinator sends them (workflows/chain.ts) and each site recomputes them from
 * the signed manifest (activities/check-step.ts), so the two agree by construction.
 */
import type { ChainJson, SecureSumStep } from './chain.ts';
import { protocolPrivacyArgs } from './privacy/protocol-privacy.ts';

export function secureSumArgs(step: Pick<SecureSumStep, 'modulus' | 'values' | 'privacy'>): { [key: string]: ChainJson } {
  return {
    modulus: step.modulus,
    source: { volume: step.values },
    ...(step.privacy ? { privacy: { ...protocolPrivacyArgs(step.privacy) } } : {}),
  };
}
