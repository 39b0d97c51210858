/**
 * `parley dev up`: a local federation that keeps running after the command returns — a Temporal
 * dev server (its database file under DIR), `parley server start` (PGlite under DIR),
 * `parley coordinator start` and one `parley site start` per site, each a detached process with
 * its pid and log recorded in DIR/dev.json. Already up: says so, restarts the site workers whose
 * site.yaml changed since they started (`parley site allow` takes effect on restart), prints the status.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { ensureDockerEngine } from '../../provision/docker-engine.ts';
import { freePort } from '../../provision/free-port.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { UsageError, type CommandIo } from '../lib/command.ts';
import { isAlive, PARLEY_SCRIPT, startDetached, stopProcess, type DevProcess } from '../lib/dev-process.ts';
import { registerDevFederation, storeLogin } from '../lib/dev-federation.ts';
import { devDir, readDevState, writeDevState, type DevState } from '../lib/dev-state.ts';
import { parseVerb } from '../lib/session.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';
import { printDevStatus } from './dev-status.ts';

const usage = [
  'Usage: parley dev up [--sites N] [--dir DIR] [--prefix P] [--api-port N]',
  '',
  'Starts a local federation that keeps running: a Temporal dev server, the API, the coordinator and',
  'N site workers (default 3), each with an example registry as its "patients" dataset and its own',
  'DIR/sites/<org>/site.yaml. Stores the researcher\'s login and key file under DIR/researcher and',
  'prints the commands to run against it. Again when up: restarts the site workers whose site.yaml',
  'changed (after `parley site allow`) and prints the status. Stop it with `parley dev down`.',
  '',
  '  --sites N      how many sites (1 to 10, default 3; fixed by the first `up` of DIR)',
  '  --dir DIR      where state, logs and pid records live (default ./.parley-dev)',
  '  --prefix P     the organisations\' names: P-a, P-b, …, P-researcher (default dev; fixed by the first `up`)',
  '  --api-port N   the API\'s port (default: a free one, kept across `down` and `up`)',
].join('\n');

const SITE_LETTERS = 'abcdefghij';

function progressOf(io: CommandIo) {
  return (line: string) => io.err(line);
}

/** @throws ParleyError Prerequisite when something else listens on the port. */
async function checkPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ParleyError(
      ErrorCode.Prerequisite,
      `${what} cannot listen on 127.0.0.1:${port}: ${err.code === 'EADDRINUSE' ? 'another process already does' : err.message}. Stop that process (\`ss -ltnp 'sport = :${port}'\` shows it), or give another --dir (or --api-port).`,
      { port },
    )));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

function newState(dir: string, sites: number, prefix: string): DevState {
  const orgs = [...SITE_LETTERS.slice(0, sites)].map((l) => `${prefix}-${l}`);
  return {
    version: 1,
    adminPassword: randomBytes(18).toString('base64url'),
    researcherPassword: randomBytes(18).toString('base64url'),
    researcher: { org: `${prefix}-researcher`, username: `${prefix}-researcher`, keyFile: join(dir, 'researcher', 'keys.json'), configDir: join(dir, 'researcher') },
    collaboration: `${prefix}-study`,
    sites: orgs.map((org) => ({ org, config: join(dir, 'sites', org, 'site.yaml') })),
    registered: false,
    processes: [],
  };
}

const siteProcessName = (org: string) => `site ${org}`;

async function startSite(dir: string, state: DevState, org: string, io: CommandIo): Promise<DevProcess> {
  const config = state.sites.find((s) => s.org === org)!.config;
  const { process } = await startDetached({
    name: siteProcessName(org), command: globalThis.process.execPath, args: [PARLEY_SCRIPT, 'site', 'start', '--config', config, '--json-logs'],
    env: io.env, log: join(dir, 'logs', `site-${org}.log`), ready: /"message":"site worker started"/, marker: config, signal: io.signal,
  });
  return process;
}

/** What the data scientist runs against it: exactly these lines. */
function nextSteps(dir: string, state: DevState): string[] {
  const env = `PARLEY_CONFIG_DIR=${state.researcher.configDir}`;
  return [
    '',
    'The dev federation is up. As its researcher (logged in under DIR/researcher):',
    '  parley algorithm new ./my-algo --lang js --name me/my-algo && parley algorithm build ./my-algo',
    ...state.sites.map((s) => `  parley site allow me/my-algo --release --config ${s.config}`),
    `  parley dev up${dir === devDir(undefined) ? '' : ` --dir ${dir}`}    # restarts the sites whose site.yaml changed`,
    `  ${env} parley run chain.yaml --key ${state.researcher.keyFile} --collab ${state.collaboration} --sites ${state.sites.map((s) => s.org).join(',')} --wait`,
    `Each site's dataset is "patients" (an example registry). Stop it all: parley dev down${dir === devDir(undefined) ? '' : ` --dir ${dir}`}`,
  ];
}

/** Up already: restart the site workers that died or whose site.yaml is newer than their start. */
async function refresh(dir: string, state: DevState, io: CommandIo): Promise<void> {
  const progress = progressOf(io);
  for (const site of state.sites) {
    const at = state.processes.findIndex((p) => p.name === siteProcessName(site.org));
    const proc = state.processes[at];
    const changed = proc !== undefined && (await stat(site.config)).mtime > new Date(proc.startedAt);
    const alive = proc !== undefined && (await isAlive(proc));
    if (alive && !changed) continue;
    if (proc !== undefined) {
      progress(alive ? `Restarting site ${site.org}: its site.yaml changed since it started.` : `Starting site ${site.org} again: its worker is not running (see ${proc.log}).`);
      await stopProcess(proc, 15_000);
    }
    const started = await startSite(dir, state, site.org, io);
    state.processes.splice(at === -1 ? state.processes.length : at, at === -1 ? 0 : 1, started);
    await writeDevState(dir, state);
  }
}

export const devUp: Verb = {
  verb: 'up',
  summary: 'start a local federation that keeps running (Temporal, API, coordinator, N sites)',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'up', [], { sites: { type: 'string' }, dir: { type: 'string' }, prefix: { type: 'string' }, 'api-port': { type: 'string' } });
    const sites = values.sites === undefined ? 3 : Number(values.sites);
    if (!Number.isInteger(sites) || sites < 1 || sites > SITE_LETTERS.length) throw new UsageError(`--sites must be a whole number from 1 to ${SITE_LETTERS.length}; got "${values.sites}".`);
    const prefix = values.prefix ?? 'dev';
    if (!/^[a-z][a-z0-9-]{0,20}$/.test(prefix)) throw new UsageError(`--prefix must be a lowercase letter, then up to 20 lowercase letters, digits or "-"; got "${prefix}".`);
    const apiPort = values['api-port'] === undefined ? undefined : Number(values['api-port']);
    if (apiPort !== undefined && (!Number.isInteger(apiPort) || apiPort < 1 || apiPort > 65_535)) throw new UsageError(`--api-port must be a port from 1 to 65535; got "${values['api-port']}".`);
    const dir = devDir(values.dir);
    const progress = progressOf(io);

    const kept = await readDevState(dir);
    if (kept && (await Promise.all(kept.processes.map(isAlive))).some(Boolean)) {
      // Parts of it stay as they are; only dead or reconfigured site workers are started again.
      const central = kept.processes.filter((p) => !p.name.startsWith('site '));
      if ((await Promise.all(central.map(isAlive))).every(Boolean) && central.length === 3) {
        io.out(`The dev federation in ${dir} is already up.`);
        await refresh(dir, kept, io);
        await printDevStatus(dir, kept, io, false);
        for (const line of nextSteps(dir, kept)) io.out(line);
        return 0;
      }
      throw new ParleyError(ErrorCode.Prerequisite, `Part of the dev federation in ${dir} runs, but not all of its central parts (Temporal, API, coordinator). Run \`parley dev down${values.dir ? ` --dir ${dir}` : ''}\`, then \`parley dev up\` again.`, { path: dir });
    }
    if (kept && (values.sites !== undefined && sites !== kept.sites.length)) {
      throw new UsageError(`${dir} was set up with ${kept.sites.length} site(s); --sites ${sites} needs a new one: \`parley dev down --purge\` first, or give another --dir.`);
    }

    const [temporalCli] = await Promise.all([ensureTemporalCli(progress, io.env), ensureDockerEngine(progress)]);
    const state = kept ?? newState(dir, sites, prefix);
    state.processes = [];
    await mkdir(join(dir, 'logs'), { recursive: true, mode: 0o700 });
    await writeDevState(dir, state);
    try {
      // The addresses of an earlier `up` are kept: the sites' site.yaml and the stored logins name them.
      const temporalPort = state.temporalAddress ? Number(state.temporalAddress.split(':')[1]) : await freePort();
      await checkPortFree(temporalPort, 'The Temporal dev server');
      const apiPortNow = state.apiUrl ? Number(new URL(state.apiUrl).port) : apiPort ?? await freePort();
      await checkPortFree(apiPortNow, 'The Parley API');
      const [httpPort, metricsPort] = await Promise.all([freePort(), freePort()]);
      progress('Starting a Temporal dev server…');
      const temporal = await startDetached({
        name: 'temporal', command: temporalCli,
        args: ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(temporalPort), '--http-port', String(httpPort), '--metrics-port', String(metricsPort),
          '--headless', '--log-level', 'error', '--color', 'never', '--db-filename', join(dir, 'temporal.db'), '--dynamic-config-value', 'limit.blobSize.error=4194304'],
        env: io.env, log: join(dir, 'logs', 'temporal.log'), ready: /^Server:\s+\S+/m, marker: join(dir, 'temporal.db'), timeoutMs: 60_000, signal: io.signal,
      });
      state.temporalAddress = `127.0.0.1:${temporalPort}`;
      state.processes.push({ ...temporal.process, address: state.temporalAddress });
      await writeDevState(dir, state);

      progress('Starting the API and the coordinator…');
      const centralEnv: NodeJS.ProcessEnv = { ...io.env, TEMPORAL_ADDRESS: state.temporalAddress, PARLEY_ADMIN_PASSWORD: state.adminPassword };
      delete centralEnv.DATABASE_URL;
      const serverDir = join(dir, 'server');
      const [server, coordinator] = await Promise.all([
        startDetached({ name: 'api', command: process.execPath, args: [PARLEY_SCRIPT, 'server', 'start', '--port', String(apiPortNow), '--json', '--state-dir', serverDir], env: centralEnv, log: join(dir, 'logs', 'api.log'), ready: /"url":"(http[^"]+)"/, marker: serverDir, signal: io.signal }),
        startDetached({ name: 'coordinator', command: process.execPath, args: [PARLEY_SCRIPT, 'coordinator', 'start'], env: centralEnv, log: join(dir, 'logs', 'coordinator.log'), ready: /Coordinator running/, marker: 'coordinator', signal: io.signal }),
      ]);
      state.apiUrl = server.match[1]!;
      state.processes.push({ ...server.process, address: state.apiUrl }, coordinator.process);
      await writeDevState(dir, state);

      if (!state.registered) {
        progress('Registering the organisations, the researcher, a collaboration and the sites…');
        await registerDevFederation(dir, state, io);
        state.registered = true;
        await writeDevState(dir, state);
      }
      // A fresh token each `up`: the stored one expires.
      await storeLogin(state.apiUrl, state.researcher.username, state.researcherPassword, state.researcher.configDir);

      progress(`Starting ${state.sites.length} site workers…`);
      for (const site of state.sites) {
        state.processes.push(await startSite(dir, state, site.org, io));
        await writeDevState(dir, state);
      }
    } catch (err) {
      progress(`Not up: ${(err as Error).message.split('\n')[0]} Stopping what was started…`);
      for (const proc of [...state.processes].reverse()) await stopProcess(proc, 10_000);
      state.processes = [];
      await writeDevState(dir, state);
      throw err;
    }
    await printDevStatus(dir, state, io, false);
    for (const line of nextSteps(dir, state)) io.out(line);
    return 0;
  },
};
