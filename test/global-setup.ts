// Filled in by the Temporal test harness; see test/temporal-server.ts.
export default async function setup(): Promise<void> {}
