/**
 * Where a ring round's time goes (issue 17): runs the ring at n sites through Parley and by hand,
 * and prints, per round, the gaps between the moments the history records (activity scheduled,
 * started, completed; workflow task scheduled, started, completed), the moments the site worker
 * marks (SiteDeps.trace) and the baseline's engine calls; then the whole run by category, and the
 * event loop's delay. A diagnostic, not a benchmark: `npx tsx bench/ring-timeline.ts [sites] [runs]`.
 * Both run in this process, one after the other, alternating after a warm-up of each.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { COUNT_DATASET, createFederation, federationSigner, siteDepsOf } from '../demo/federation.ts';
import { asProtocolImage } from '../activities/site-policy.ts';
import type { StepTrace } from '../activities/site-activities.ts';
import { startLocalCluster } from '../demo/local-cluster.ts';
import { demoSiteNames } from '../demo/run-demo.ts';
import { prepareMachine } from '../provision/prepare-machine.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum } from '../researcher/runs.ts';
import type { SecureSumResult } from '../workflows/index.ts';
import { ringByHand } from './ring-baseline.ts';
import { median } from './stats.ts';

const now = () => performance.timeOrigin + performance.now();
type Marks = Map<string, Map<string, number>>; // step → mark → epoch ms
const marks = new Map<string, Marks>(); // runId → …
const trace: StepTrace = (mark, { runId, step }) => {
  const run = marks.get(runId) ?? new Map<string, Map<string, number>>();
  marks.set(runId, run);
  const at = run.get(step) ?? new Map<string, number>();
  run.set(step, at);
  if (!at.has(mark)) at.set(mark, now());
};

/** Wraps the engine client so that the baseline's create, start, wait and remove are timed, in call order. */
function tracedDocker(docker: Docker, onCall: (what: string) => void): Docker {
  const wrapContainer = (c: Docker.Container): Docker.Container => new Proxy(c, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || !['start', 'wait', 'remove'].includes(String(prop))) return typeof v === 'function' ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        onCall(`${String(prop)}.call`);
        const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        onCall(`${String(prop)}.done`);
        return r;
      };
    },
  });
  return new Proxy(docker, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'createContainer') {
        return async (...args: unknown[]) => {
          onCall('create.call');
          const c = await (v as (...a: unknown[]) => Promise<Docker.Container>).apply(target, args);
          onCall('create.done');
          return wrapContainer(c);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

interface Ev { type: string; at: number; id: number; sched?: number; name?: string }

async function main() {
  const n = Number(process.argv[2] ?? 3);
  const runs = Number(process.argv[3] ?? 5);
  const machine = await prepareMachine(() => {});
  const image = machine.images.secureSum;
  // Names of its own: other processes on this engine sweep the demo's organisations' leftovers.
  const orgs = demoSiteNames(n).map((o) => o.replace('registry-', 'timeline-'));
  const counts = new Map(orgs.map((org) => [org, BigInt(randomInt(0, 1_000_000))]));
  const expected = orgs.reduce((s, o) => s + counts.get(o)!, 0n);
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-timeline-'));
  const federation = await createFederation({ stateDir, counts, requester: 'researcher' });
  const cluster = await startLocalCluster({
    ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : { temporalCli: machine.temporalCli! }),
    sites: federation.sites.map((site) => ({ ...siteDepsOf(site, federation, machine.docker, [asProtocolImage(image)]), trace })),
  });
  const sites = federation.sites.map((s) => ({ org: s.org, datasetDir: s.datasets[COUNT_DATASET]! }));
  let baseStep = -1;
  const baseMarks: Array<Map<string, number>> = [];
  const baseDocker = tracedDocker(machine.docker, (what) => {
    if (what === 'create.call') baseMarks[++baseStep] = new Map();
    baseMarks[baseStep]!.set(what, now());
  });
  const rows = new Map<string, number[]>();
  const add = (k: string, v: number) => rows.set(k, [...(rows.get(k) ?? []), v]);
  const walls = { parley: [] as number[], base: [] as number[] };
  try {
    for (let r = -1; r < runs; r++) {
      const loop = monitorEventLoopDelay({ resolution: 1 });
      let gcMs = 0;
      const gc = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; });
      gc.observe({ entryTypes: ['gc'] });
      loop.enable();
      const t0 = now();
      const handle = await startSecureSum(cluster.client, { participants: orgs, requester: 'researcher', dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image, signer: federationSigner(federation) });
      const total = await openSecureSumResult((await handle.result()) as SecureSumResult, federation.requester, federation.directory, orgs[0]!);
      const t1 = now();
      loop.disable();
      gc.disconnect();
      if (r >= 0) {
        add('L event loop delay p50', loop.percentile(50) / 1e6);
        add('L event loop delay p99', loop.percentile(99) / 1e6);
        add('L event loop delay max', loop.max / 1e6);
        add('L gc ms during run', gcMs);
      }
      if (total !== expected) throw new Error('wrong total');
      baseStep = -1;
      const b0 = now();
      const base = await ringByHand(baseDocker, image.digest, sites, DEFAULT_MODULUS);
      const b1 = now();
      if (base.total !== expected) throw new Error('wrong baseline total');
      if (r < 0) continue; // warm-up
      walls.parley.push(t1 - t0);
      walls.base.push(b1 - b0);

      const history = await handle.fetchHistory();
      const events: Ev[] = [];
      for (const e of history.events ?? []) {
        const type = String(e.eventType);
        const ev: Ev = { type, at: ms(e.eventTime as never), id: Number(e.eventId) };
        const a = e.activityTaskScheduledEventAttributes;
        if (a) ev.name = a.activityType?.name ?? '';
        const s = e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes;
        if (s) ev.sched = Number(s.scheduledEventId);
        events.push(ev);
      }
      // Event types (temporal.api.enums.v1.EventType): 1 started, 5 WFT scheduled, 6 WFT started, 7 WFT completed,
      // 10 activity scheduled, 11 activity started, 12 activity completed.
      const sched = events.filter((e) => e.type === '10' && e.name === 'runStep');
      const startedOf = (s: Ev) => events.find((e) => e.type === '11' && e.sched === s.id);
      const completedOf = (s: Ev) => events.find((e) => e.type === '12' && e.sched === s.id);
      const runMarks = marks.get(handle.workflowId)!;
      const steps = [...runMarks.keys()].filter((k) => runMarks.get(k)!.has('enter'));
      steps.sort((a, b) => runMarks.get(a)!.get('enter')! - runMarks.get(b)!.get('enter')!);
      for (let i = 0; i < sched.length; i++) {
        const s = sched[i]!;
        const m = runMarks.get(steps[i]!)!;
        const g = (k: string) => m.get(k) ?? NaN;
        const started = startedOf(s)!;
        const completed = completedOf(s)!;
        const tag = i === 0 ? 'first' : i === sched.length - 1 ? 'last' : 'mid';
        const pre = `${tag}.`;
        add(`${pre}a sched→worker enter`, g('enter') - s.at);
        add(`${pre}a' sched→server started`, started.at - s.at);
        add(`${pre}b enter→checked`, g('checked') - g('enter'));
        add(`${pre}c checked→inputs written`, g('inputs') - g('checked'));
        add(`${pre}d inputs→start`, g('start') - g('inputs'));
        add(`${pre}e start→started`, g('started') - g('start'));
        add(`${pre}f started→exited`, g('exited') - g('started'));
        add(`${pre}g exited→sealed`, g('sealed') - g('exited'));
        add(`${pre}h sealed→return`, g('return') - g('sealed'));
        add(`${pre}i return→completed event`, completed.at - g('return'));
        add(`${pre}x prepared before enter`, g('enter') - (m.get('prepared') ?? NaN));
        const next = sched[i + 1];
        if (next) {
          const wft = events.filter((e) => e.id > completed.id && e.id < next.id);
          const ws = wft.find((e) => e.type === '5');
          const wst = wft.find((e) => e.type === '6');
          const wc = wft.find((e) => e.type === '7');
          add(`${pre}j completed→WFT sched`, (ws?.at ?? NaN) - completed.at);
          add(`${pre}k WFT sched→started`, (wst?.at ?? NaN) - (ws?.at ?? NaN));
          add(`${pre}l WFT started→completed`, (wc?.at ?? NaN) - (wst?.at ?? NaN));
          add(`${pre}m WFT completed→next sched`, next.at - (wc?.at ?? NaN));
          add(`${pre}Σ exited→next start`, (runMarks.get(steps[i + 1]!)!.get('start') ?? NaN) - g('exited'));
        }
        add(`${pre}Σ start→exited`, g('exited') - g('start'));
      }
      // The whole run by category: what the wall time is made of.
      {
        const starts = events.find((e) => e.type === '1')!;
        const done = events.find((e) => e.type === '2')!;
        const total = (f: (i: number) => number) => sched.reduce((sum, _s, i) => sum + f(i), 0);
        const mk = (i: number, k: string) => runMarks.get(steps[i]!)!.get(k) ?? NaN;
        add('P0 t0→workflow started', starts.at - t0);
        add('P1 workflow started→first sched', sched[0]!.at - starts.at);
        add('P2 Σ sched→enter (dispatch)', total((i) => mk(i, 'enter') - sched[i]!.at));
        add('P3 Σ enter→start (site, before)', total((i) => mk(i, 'start') - mk(i, 'enter')));
        add('P4 Σ start→exited (container)', total((i) => mk(i, 'exited') - mk(i, 'start')));
        add('P5 Σ exited→return (site, after)', total((i) => mk(i, 'return') - mk(i, 'exited')));
        add('P6 Σ return→completed', total((i) => completedOf(sched[i]!)!.at - mk(i, 'return')));
        add('P7 Σ completed→next sched (WFT)', total((i) => (sched[i + 1] ? sched[i + 1]!.at - completedOf(sched[i]!)!.at : 0)));
        add('P8 last completed→workflow completed', done.at - completedOf(sched.at(-1)!)!.at);
        add('P9 workflow completed→result opened', t1 - done.at);
        add('P= wall', t1 - t0);
        const bm = (i: number, k: string) => baseMarks[i]!.get(k) ?? NaN;
        const btotal = (f: (i: number) => number) => baseMarks.reduce((sum, _m, i) => sum + f(i), 0);
        add('B0 t0→first create', bm(0, 'create.call') - b0);
        add('B1 Σ create', btotal((i) => bm(i, 'create.done') - bm(i, 'create.call')));
        add('B2 Σ create.done→start.call', btotal((i) => bm(i, 'start.call') - bm(i, 'create.done')));
        add('B3 Σ start.call→exited (container)', btotal((i) => bm(i, 'wait.done') - bm(i, 'start.call')));
        add('B4 Σ exited→removed', btotal((i) => bm(i, 'remove.done') - bm(i, 'wait.done')));
        add('B5 Σ removed→next create', btotal((i) => (baseMarks[i + 1] ? bm(i + 1, 'create.call') - bm(i, 'remove.done') : 0)));
        add('B6 last removed→end', b1 - bm(baseMarks.length - 1, 'remove.done'));
        add('B= wall', b1 - b0);
      }
      for (let i = 0; i < baseMarks.length; i++) {
        const m = baseMarks[i]!;
        const g = (k: string) => m.get(k) ?? NaN;
        add('base.create', g('create.done') - g('create.call'));
        add('base.start', g('start.done') - g('start.call'));
        add('base.start.done→exited', g('wait.done') - g('start.done'));
        add('base.remove', g('remove.done') - g('remove.call'));
        const next = baseMarks[i + 1];
        if (next) add('base.Σ exited→next start.call', next.get('start.call')! - g('wait.done'));
        add('base.Σ start.call→exited', g('wait.done') - g('start.call'));
      }
    }
  } finally {
    await cluster.shutdown();
    await rm(stateDir, { recursive: true, force: true });
  }
  console.log(`ring timeline, ${n} sites, ${runs} runs: Parley median ${median(walls.parley).toFixed(0)} ms, by hand ${median(walls.base).toFixed(0)} ms, ratio ${(median(walls.parley) / median(walls.base)).toFixed(3)}`);
  console.log(`  parley runs ${walls.parley.map((v) => v.toFixed(0)).join(' ')}; base runs ${walls.base.map((v) => v.toFixed(0)).join(' ')}`);
  for (const [k, v] of [...rows.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${k.padEnd(40)} median ${median(v).toFixed(1).padStart(7)}  (n=${v.length}, min ${Math.min(...v).toFixed(1)}, max ${Math.max(...v).toFixed(1)})`);
  }
}

await main();
