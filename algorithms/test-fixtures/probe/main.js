/**
 * A test algorithm that probes its own sandbox, so the sandbox tests run against a real image
 * through the real library. Not for production allow-lists. Args: { action, ... }:
 *
 * - `probe`: reports what the container can see and do (uid, network interfaces, the run
 *   volume's files, which paths are writable, the environment, its inputs) as its output.
 * - `send`: sends `args.content` to each of `args.to` (a list) and reports which were refused.
 * - `fail`: writes `args.stdout` numbered lines to stdout, then `args.stderr` more to stderr,
 *   and exits with `args.exitCode`.
 * - `hang`: never exits (for the timeout and cancel tests).
 * - `allocate`: fills `args.mb` MiB of memory, 8 MiB at a time, keeping all of it, then exits 0
 *   (for the out-of-memory tests: past the container's limit the kernel kills it first).
 * - `bulk`: sends each of `args.to` `args.count` messages of `args.bytes` characters each, made in
 *   the container from `args.seed` (so a test can tell them apart and check them, and the step's
 *   arguments stay small), and outputs how many it sent.
 * - `digest`: outputs, for each input, its sender, sequence number, length and SHA-256: a step
 *   can check large inputs without copying them into its output.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { args, dataPath, fail, org, output, participants, readInputs, runId, send, step, volumePath } from '#parley';

function tryWrite(path) {
  try {
    writeFileSync(path, 'probe');
    return 'ok';
  } catch (err) {
    return err.code ?? 'error';
  }
}

/** The run volume's files with their modes, as found before the probe writes anything. */
function volumeListing() {
  return Object.fromEntries(readdirSync(volumePath).sort().map((name) => [name, (statSync(join(volumePath, name)).mode & 0o777).toString(8)]));
}

async function probe() {
  const datasets = args.datasets ?? [];
  const volume = volumeListing();
  await output({
    volume,
    uid: process.getuid(),
    gid: process.getgid(),
    interfaces: Object.keys(networkInterfaces()).sort(),
    writes: {
      rootfs: tryWrite('/app/probe'),
      etc: tryWrite('/etc/probe'),
      tmp: tryWrite('/tmp/probe'),
      volume: tryWrite(join(volumePath, 'probe')),
      input: tryWrite('/run/parley/input/probe'),
      ...Object.fromEntries(datasets.map((d) => [`data:${d}`, tryWrite(join(dataPath(d), 'probe'))])),
    },
    datasets: Object.fromEntries(datasets.map((d) => [d, readdirSync(dataPath(d)).sort()])),
    env: { runId, step, org, participants },
    inputs: readInputs(),
  });
}

async function sendAll() {
  const refused = [];
  for (const to of args.to ?? []) {
    try {
      await send(to, args.content);
    } catch {
      refused.push(to);
    }
  }
  await output({ refused });
}

async function failLoudly() {
  const { stdout = 0, stderr = 0 } = args;
  for (let i = 1; i <= stdout; i++) process.stdout.write(`line ${i}\n`);
  // stdout and stderr reach the engine through separate pipes: a pause keeps their order in the log.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (let i = stdout + 1; i <= stdout + stderr; i++) process.stderr.write(`line ${i}\n`);
  process.exit(args.exitCode ?? 1);
}

function allocate() {
  // Filled, not just allocated: untouched pages are never charged to the container's memory.
  const kept = [];
  for (let mb = 0; mb < (args.mb ?? 0); mb += 8) kept.push(Buffer.alloc(8 * 1024 * 1024, 1));
  process.stdout.write(`allocated ${kept.length * 8} MiB\n`);
}


/** `bytes` characters of a message, different for every (seed, recipient, index). */
function bulkContent(seed, to, i, bytes) {
  const unit = createHash('sha256').update(`${seed}/${to}/${i}`).digest('hex');
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

async function sendBulk() {
  let sent = 0;
  for (const to of args.to ?? []) {
    for (let i = 0; i < (args.count ?? 1); i++) {
      await send(to, { i, text: bulkContent(args.seed ?? '', to, i, args.bytes ?? 0) });
      sent += 1;
    }
  }
  await output({ sent });
}

async function digestInputs() {
  const inputs = readInputs().map((input) => {
    const text = input.content?.text ?? '';
    return { from: input.from, seq: input.seq, i: input.content?.i, length: text.length, sha256: createHash('sha256').update(text).digest('hex') };
  });
  await output({ inputs });
}


const actions = { probe, send: sendAll, bulk: sendBulk, digest: digestInputs, fail: failLoudly, hang: () => setInterval(() => {}, 60_000), allocate };
const action = actions[args.action];
if (!action) fail(`args.action must be one of ${Object.keys(actions).join(', ')}.`);
else Promise.resolve(action()).catch((err) => fail(`probe failed: ${err.message}`));
