/**
 * The baseline for the ring secure sum: the same containers, run sequentially by hand with the
 * Docker API — same image, the sandbox's own container settings and mounts, a plain socket
 * server that only collects messages — with no Temporal, no envelopes and no site workers. What
 * Parley adds on top of this is its own cost.
 */
import { createServer } from 'node:http';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { containerConfig } from '../activities/sandbox/run-container.ts';

interface Site {
  org: string;
  datasetDir: string;
}

/** Runs the ring by hand; returns the total and the wall time in ms. */
export async function ringByHand(docker: Docker, image: string, sites: Site[], modulus: string): Promise<{ total: bigint; ms: number }> {
  const started = performance.now();
  const runId = `baseline-${Date.now()}`;
  const work = await mkdtemp(join(tmpdir(), 'parley-baseline-'));
  const volumes = new Map<string, string>();
  try {
    let partial: unknown;
    let total: bigint | undefined;
    const n = sites.length;
    for (let i = 0; i <= n; i++) {
      const site = sites[i % n]!;
      const role = i === 0 ? 'start' : i < n ? 'add' : 'finish';
      const args = { role, dataset: 'registry', modulus, ...(i < n ? { next: sites[(i + 1) % n]!.org } : {}) };
      if (!volumes.has(site.org)) {
        const name = `${runId}-${site.org}`;
        await docker.createVolume({ Name: name, Labels: { 'parley.run': runId, 'parley.site': site.org } });
        volumes.set(site.org, name);
      }
      const stepDir = join(work, `step-${i}`);
      const inputDir = join(stepDir, 'input');
      await mkdir(inputDir, { recursive: true, mode: 0o755 });
      const inputs = partial === undefined ? [] : [{ file: 'in.json', from: sites[(i - 1 + n) % n]!.org, step: `s${i - 1}`, seq: 0 }];
      if (partial !== undefined) await writeFile(join(inputDir, 'in.json'), JSON.stringify(partial));
      await writeFile(join(inputDir, 'index.json'), JSON.stringify(inputs));
      const socketPath = join(stepDir, 'node.sock');
      const sent: unknown[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          // POST /v1/messages/{to} carries the content's JSON as the whole body (how the
          // libraries send); /v1/messages and /v1/output wrap it as { content }.
          const parsed = JSON.parse(body) as { content: unknown };
          sent.push(req.url?.startsWith('/v1/messages/') ? parsed : parsed.content);
          res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      await chmod(socketPath, 0o666);
      // The engine request Parley's sandbox makes (activities/sandbox/run-container.ts), so the
      // baseline cannot drift from the contract it is measured against.
      const container = await docker.createContainer(containerConfig({
        image, runId, step: `s${i}`, org: site.org, participants: sites.map((s) => s.org), args,
        datasets: { registry: site.datasetDir }, volumeName: volumes.get(site.org)!, inputDir, socketPath,
      }));
      await container.start();
      const exit = (await container.wait()) as { StatusCode: number };
      await container.remove({ force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (exit.StatusCode !== 0) throw new Error(`baseline step ${i} exited ${exit.StatusCode}`);
      if (role === 'finish') total = BigInt((sent[0] as { total: string }).total);
      else partial = sent[0];
    }
    if (total === undefined) throw new Error('baseline produced no total');
    for (const name of volumes.values()) await docker.getVolume(name).remove();
    return { total, ms: performance.now() - started };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
