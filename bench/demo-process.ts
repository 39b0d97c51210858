/**
 * One ring demo in a process of its own, as `parley demo` runs one: the whole-demo benchmark
 * (bench/demo-api.bench.ts) times this process from its spawn to its exit, so the figure holds
 * what a user waits for — Node's start, the imports, the demo, its clean-up — and nothing is warm
 * from an earlier demo (PGlite's compiled WebAssembly, say). `api` runs it through the Parley API,
 * as `parley demo` does; `direct` straight to Temporal. Prints one JSON line: the demo's figures
 * and phases (demo/phase-timings.ts), and when its imports were done.
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const mode = process.argv[2];
if (mode !== 'api' && mode !== 'direct') {
  process.stderr.write('Usage: node --import tsx bench/demo-process.ts api|direct\n');
  process.exit(2);
}
// Loaded as `parley demo` loads it (cli/commands/demo.ts): only once the process runs.
const { runDemo } = await import('../demo/run-demo.ts');
const importedMs = performance.now();
const counts = Array.from({ length: 3 }, () => BigInt(randomInt(0, 1_000_000)));
const report = await runDemo({ counts, viaApi: mode === 'api' });
const ok = report.result === report.plainSum;
process.stdout.write(`${JSON.stringify({ ok, importedMs, runMs: report.runMs, totalMs: report.totalMs, phases: report.phases })}\n`);
// Temporal's native runtime keeps handles open, as in `parley`'s own entry (cli/entry.ts).
process.exit(ok ? 0 : 1);
