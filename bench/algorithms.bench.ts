/**
 * A data scientist's own algorithm, Python and JavaScript: how long `parley algorithm build`
 * takes cold (a new image FROM a cached base) and warm (nothing changed: no work), and how much
 * `parley algorithm test` adds around the container it runs (workspace, node socket, run volume,
 * reading the volume back) — goal: the whole local run under 1.2 × the container's own time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { buildAlgorithm } from '../algorithms/build-algorithm.ts';
import { runAlgorithmLocally } from '../algorithms/run-locally.ts';
import { scaffoldAlgorithm } from '../algorithms/scaffold-algorithm.ts';
import { median, round } from './stats.ts';

export interface AlgorithmLanguageBench {
  language: 'python' | 'js';
  /** Building the image the first time, FROM an already cached base. */
  coldBuildMs: number;
  /** Building again with nothing changed (median). */
  warmBuildMedianMs: number;
  /** One `algorithm test` run end to end, without the build (median). */
  testWallMedianMs: number;
  /** The container's own time inside it: create, start, wait, logs, remove (median). */
  containerMedianMs: number;
  ratio: number;
}

export interface AlgorithmsBench {
  name: string;
  runs: number;
  goalRatio: number;
  results: AlgorithmLanguageBench[];
}

const GOAL_RATIO = 1.2;

export async function benchAlgorithms(options: { docker: Docker; runs: number; log: (line: string) => void }): Promise<AlgorithmsBench> {
  const { docker, runs, log } = options;
  const root = await mkdtemp(join(tmpdir(), 'parley-bench-algorithms-'));
  const results: AlgorithmLanguageBench[] = [];
  try {
    for (const language of ['python', 'js'] as const) {
      const dir = join(root, language);
      // A name of its own per run: the cold build must not find an image of an earlier run.
      const name = `parley-bench/${language}-mean-${Date.now().toString(36)}`;
      await scaffoldAlgorithm(dir, { language, name });
      // The base is made once per machine (minutes for Python's debootstrap): not this benchmark's.
      await buildAlgorithm(docker, dir).then(async (first) => docker.getImage(first.digest).remove({ force: true }).catch(() => undefined));
      let started = performance.now();
      const image = await buildAlgorithm(docker, dir);
      const coldBuildMs = round(performance.now() - started, 0);
      const warm: number[] = [];
      for (let i = 0; i < runs; i++) {
        started = performance.now();
        await buildAlgorithm(docker, dir);
        warm.push(performance.now() - started);
      }
      const walls: number[] = [];
      const containers: number[] = [];
      for (let i = 0; i <= runs; i++) {
        started = performance.now();
        const ran = await runAlgorithmLocally(docker, { image: image.digest, datasets: { patients: join(dir, 'samples', 'patients.csv') }, args: { column: 'lab_value' } });
        const wall = performance.now() - started;
        if (ran.failure) throw ran.failure;
        // The first run warms the engine's caches for this image; it is not counted.
        if (i > 0) {
          walls.push(wall);
          containers.push(ran.durationMs);
        }
      }
      const result: AlgorithmLanguageBench = {
        language,
        coldBuildMs,
        warmBuildMedianMs: round(median(warm), 0),
        testWallMedianMs: round(median(walls), 0),
        containerMedianMs: round(median(containers), 0),
        ratio: round(median(walls) / median(containers)),
      };
      results.push(result);
      log(`  ${language}: build cold ${result.coldBuildMs} ms, warm ${result.warmBuildMedianMs} ms; test ${result.testWallMedianMs} ms vs container ${result.containerMedianMs} ms (${result.ratio}×)`);
      await docker.getImage(image.digest).remove({ force: true }).catch(() => undefined);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return { name: 'own algorithm (scaffolded mean)', runs, goalRatio: GOAL_RATIO, results };
}

/** The report's rows for this benchmark. */
export function algorithmsRows(bench: AlgorithmsBench, mark: string): string[] {
  const goal = (ok: boolean) => (ok ? '✓' : '✗');
  return bench.results.flatMap((r) => [
    `| ${r.language} algorithm: build cold / warm (median of ${bench.runs})${mark} | ${r.coldBuildMs} ms / ${r.warmBuildMedianMs} ms | — | — | — |`,
    `| ${r.language} algorithm: \`algorithm test\` wall (median of ${bench.runs})${mark} | ${r.testWallMedianMs} ms | ${r.containerMedianMs} ms (the container alone) | ${r.ratio} | ≤ ${bench.goalRatio} ${goal(r.ratio <= bench.goalRatio)} |`,
  ]);
}
