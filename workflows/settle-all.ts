/**
 * Waits for every promise, even when one fails, then throws the first failure (in the order
 * given) or returns every value in order. The workflows start steps at several sites at once:
 * cleanup must not race a sibling's container that is still writing to its volume.
 */
export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
