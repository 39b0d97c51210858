/**
 * `parley dev status`: what `parley dev up` started in DIR — each process with its pid, whether
 * it is alive, what it serves and its log — and the sites with the images each allows.
 */
import { loadSiteConfig } from '../../workers/site/config.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { CommandIo } from '../lib/command.ts';
import { isAlive } from '../lib/dev-process.ts';
import { devDir, readDevState, type DevState } from '../lib/dev-state.ts';
import { parseVerb } from '../lib/session.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley dev status [--dir DIR] [--json]',
  '',
  'Shows what `parley dev up` started: each process (pid, alive or not, address, log file), and the',
  'sites with the images each allows. Exit 1 when a process it started is no longer running.',
  '',
  '  --dir DIR  the dev federation\'s directory (default ./.parley-dev)',
  '  --json     print one JSON object',
].join('\n');

export interface DevStatus {
  dir: string;
  processes: Array<{ name: string; pid: number; alive: boolean; address?: string; log: string }>;
  sites: Array<{ org: string; config: string; allowedImages: Array<{ name: string; digest: string; role: string }> }>;
  researcher: { org: string; keyFile: string; configDir: string };
  collaboration: string;
}

/** The status of the recorded processes and sites. */
export async function devStatusOf(dir: string, state: DevState): Promise<DevStatus> {
  const processes = await Promise.all(state.processes.map(async (p) => ({ name: p.name, pid: p.pid, alive: await isAlive(p), ...(p.address ? { address: p.address } : {}), log: p.log })));
  const sites = await Promise.all(state.sites.map(async (s) => {
    const config = await loadSiteConfig(s.config).catch(() => undefined);
    return { org: s.org, config: s.config, allowedImages: (config?.allowedImages ?? []).map((i) => ({ name: i.name, digest: i.digest, role: i.role })) };
  }));
  const { org, keyFile, configDir } = state.researcher;
  return { dir, processes, sites, researcher: { org, keyFile, configDir }, collaboration: state.collaboration };
}

/** Prints the status; returns it. */
export async function printDevStatus(dir: string, state: DevState, io: CommandIo, json: boolean): Promise<DevStatus> {
  const status = await devStatusOf(dir, state);
  if (json) {
    io.out(JSON.stringify(status));
    return status;
  }
  io.out(`Dev federation in ${dir}:`);
  if (status.processes.length === 0) io.out('  nothing running (start it with `parley dev up`)');
  const width = Math.max(0, ...status.processes.map((p) => p.name.length));
  for (const p of status.processes) {
    io.out(`  ${p.name.padEnd(width)}  pid ${String(p.pid).padEnd(7)} ${p.alive ? 'alive' : 'NOT RUNNING'}  ${p.address ?? ''}${p.address ? '  ' : ''}log ${p.log}`);
  }
  io.out('Sites:');
  for (const s of status.sites) {
    io.out(`  ${s.org}  ${s.config}`);
    if (s.allowedImages.length === 0) io.out('    allows no image yet (parley site allow <image> --config …)');
    for (const i of s.allowedImages) io.out(`    allows ${i.name}@${i.digest} (${i.role})`);
  }
  return status;
}

export const devStatus: Verb = {
  verb: 'status',
  summary: 'what the dev federation runs where, and what its sites allow',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'status', [], { dir: { type: 'string' }, json: { type: 'boolean', default: false } });
    const dir = devDir(values.dir);
    const state = await readDevState(dir);
    if (state === undefined) throw new ParleyError(ErrorCode.NotFound, `There is no dev federation in ${dir}: start one with \`parley dev up${values.dir ? ` --dir ${values.dir}` : ''}\`.`, { path: dir });
    const status = await printDevStatus(dir, state, io, values.json);
    const dead = status.processes.filter((p) => !p.alive);
    if (dead.length > 0 && !values.json) io.err(`Not running: ${dead.map((p) => p.name).join(', ')}. See the log file beside each; \`parley dev up\` starts dead site workers again.`);
    return dead.length > 0 ? 1 : 0;
  },
};
