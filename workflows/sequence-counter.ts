import type { OrgId } from '../common/ids.ts';

/**
 * Hands out each sender's envelope sequence numbers within a run: from 0, without gaps, in
 * the order the workflow records steps, so a replay computes the very same numbers.
 */
export class SequenceCounter {
  private readonly next = new Map<OrgId, number>();

  /** The first sequence number the sender's next step will use. */
  peek(org: OrgId): number {
    return this.next.get(org) ?? 0;
  }

  /** Records that the sender sealed `count` envelopes. */
  advance(org: OrgId, count: number): void {
    this.next.set(org, this.peek(org) + count);
  }
}
