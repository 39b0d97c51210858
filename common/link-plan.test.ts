import { describe, expect, it } from 'vitest';
import { linkPlan } from './link-plan.ts';

const ORGS = ['c', 's1', 's2', 's3', 's4', 's5'];

/**
 * Follows every list through the plan, recording the set of keys on it when each site holds it,
 * as the sites' containers apply them (blind and pass apply the holder's key; compare applies C's
 * to the others' lists).
 */
function walk(sources: string[]) {
  const plan = linkPlan(sources, 'l.');
  const keys = new Map<string, Set<string>>(); // origin → keys on its list so far
  const held: Array<{ org: string; step: string; lists: Array<{ origin: string; keys: string[] }> }> = [];
  for (const call of plan.flat()) {
    if (call.role === 'write') continue;
    const lists = call.hops.map((h) => h.origin).filter((o, i, all) => all.indexOf(o) === i);
    const after: Array<{ origin: string; keys: string[] }> = [];
    for (const origin of lists) {
      const k = keys.get(origin) ?? new Set<string>();
      if (call.role !== 'compare' || origin !== sources[0]) k.add(call.org);
      keys.set(origin, k);
      after.push({ origin, keys: [...k].sort() });
    }
    held.push({ org: call.org, step: call.step, lists: after });
  }
  return { plan, held };
}

describe('linkPlan (the link step\'s routing)', () => {
  it.each([2, 3, 4, 5, 6])('with %i sources: every list gets every key once, and no site but the comparer ever holds two lists under one set of keys', (n) => {
    const sources = ORGS.slice(0, n);
    const { plan, held } = walk(sources);
    const all = [...sources].sort();
    for (const step of held) {
      const spaces = step.lists.map((l) => l.keys.join(','));
      if (step.org !== sources[0]) {
        expect(new Set(spaces).size, `${step.step} at ${step.org}`).toBe(spaces.length);
        // Outside C, a fully blinded list is only ever C's own, alone.
        for (const l of step.lists) if (l.keys.join(',') === all.join(',')) expect(l.origin).toBe(sources[0]);
      }
    }
    const compare = held.find((h) => h.step.endsWith('.compare'))!;
    expect(compare.org).toBe(sources[0]);
    expect(compare.lists.map((l) => l.origin).sort()).toEqual(all);
    for (const l of compare.lists) expect(l.keys).toEqual(all);
    // n + 3 rounds, 2n + 2 + (n − 1)(n − 2) containers, at most one call per site per round.
    expect(plan).toHaveLength(n + 3);
    expect(plan.flat()).toHaveLength(2 * n + 2 + (n - 1) * (n - 2));
    for (const round of plan) expect(new Set(round.map((c) => c.org)).size).toBe(round.length);
    // The comparer's own list is shuffled by the last other site, and its answer goes back through it.
    const last = sources[n - 1]!;
    expect(plan.flat().filter((c) => c.hops.some((h) => h.shuffle))).toEqual([expect.objectContaining({ org: last, hops: [{ origin: sources[0], to: sources[0], shuffle: true }] })]);
    expect(plan.flat().find((c) => c.role === 'write' && c.org === last)!.hops).toEqual([{ origin: sources[0], to: sources[0] }]);
  });

  it('refuses fewer than two sources, or a source twice', () => {
    expect(() => linkPlan(['c'], '')).toThrow(TypeError);
    expect(() => linkPlan(['c', 'c'], '')).toThrow(TypeError);
  });
});
