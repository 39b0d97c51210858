/**
 * `parley run <chain file>`: validates the chain locally (nothing is contacted when it has
 * problems), pins its images by digest on the local Docker engine, and starts it through the API
 * in a collaboration; with --wait, follows it per step and site and shows the result.
 */
import type { ApiClient, RunView } from '../../activities/api-client.ts';
import { resolveChain } from '../../chains/index.ts';
import { isOrgId } from '../../common/ids.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { RunStatus } from '../../common/run-status.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { startChainThroughApi } from '../../researcher/runs.ts';
import { UsageError, type Command, type CommandIo } from '../lib/command.ts';
import { checkChainArgs } from '../lib/chain-args.ts';
import { dockerImageResolver, loadChainFile, problemLine } from '../lib/chain-file.ts';
import { followProgress } from '../lib/follow-progress.ts';
import { showResult, toJson } from '../lib/sealed-result-view.ts';
import { API_OPTIONS, callApi, openSession, parseVerb } from '../lib/session.ts';
import type { Session } from '../lib/session.ts';

const usage = [
  'Usage: parley run <chain.yaml|chain.json> --key FILE [--collab ID|NAME] [--sites a,b,c] [--wait] [--site-down-tolerance 30m] [--api URL] [--json]',
  '',
  'Starts a chain (researcher). First validates the file (problems print as file:line:column: path:',
  'message, exit 2, nothing contacted), then pins each image by digest on the local Docker engine',
  '(or takes name@sha256:… as written), then signs the run\'s manifest with your organisation\'s key',
  '(every site checks each step against it) and starts the run through the API you are logged in to.',
  '',
  '  --collab ID|NAME  the collaboration (default: your only one)',
  '  --sites LIST      the sites taking part, comma-separated (default: the file\'s sites, else every',
  '                    live site in the collaboration but yours)',
  '  --wait            follow the run: a line per step and site as it changes, then the result',
  '  --site-down-tolerance DURATION  how long a step waits for a site whose worker is down before the',
  '                    run fails naming it (ERR_SITE_DOWN), e.g. 90s, 30m, 2h (default 15m)',
  '  --key FILE        your organisation\'s key file: signs the run (required), and opens the result with --wait',
  '  --api URL         the server (default: the one you are logged in to)',
  '  --json            print one JSON line: the run (with --wait: {run, result})',
].join('\n');

function parseSites(text: string): string[] {
  const sites = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (sites.length === 0) throw new UsageError('--sites needs at least one organisation id.');
  sites.forEach((s, i) => {
    if (!isOrgId(s)) throw new UsageError(`--sites: item ${i + 1} ("${s}") is not an organisation id (a lowercase slug).`);
  });
  const twice = sites.find((s, i) => sites.indexOf(s) !== i);
  if (twice !== undefined) throw new UsageError(`--sites lists "${twice}" twice.`);
  return sites;
}

const TOLERANCE_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `--site-down-tolerance`: "90s", "30m" or "2h", from one second to a week. */
export function parseSiteDownTolerance(text: string): number {
  const match = /^([1-9][0-9]{0,6})([smh])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * TOLERANCE_UNITS_MS[match[2] as keyof typeof TOLERANCE_UNITS_MS] : NaN;
  if (!(ms >= 1000 && ms <= 7 * 24 * 3_600_000)) {
    throw new UsageError(`--site-down-tolerance must be a duration from 1s to a week, such as 90s, 30m or 2h; got "${text}".`);
  }
  return ms;
}

/** The collaboration by id or name; without one, the caller's only collaboration. */
export async function findCollaboration(session: Session, wanted: string | undefined): Promise<{ id: string; name: string }> {
  const { collaborations } = await callApi(session, 'Listing your collaborations', (c: ApiClient) => c.collaborations());
  if (wanted !== undefined) {
    const found = collaborations.find((c) => c.id === wanted || c.name === wanted);
    if (found) return found;
    throw new ParleyError(ErrorCode.NotFound, `You take part in no collaboration "${wanted}". Yours: ${collaborations.map((c) => `${c.name} (${c.id})`).join(', ') || 'none'}.`);
  }
  if (collaborations.length === 1) return collaborations[0]!;
  throw new UsageError(collaborations.length === 0
    ? 'you take part in no collaboration; ask a server admin to add your organisation to one.'
    : `--collab is required: you take part in ${collaborations.length}: ${collaborations.map((c) => `${c.name} (${c.id})`).join(', ')}.`);
}

async function waitForResult(session: Session, run: RunView, keyFile: string | undefined, io: CommandIo, json: boolean): Promise<{ code: number; result?: Record<string, unknown> }> {
  const runId = run.id;
  const status = await followProgress(session, runId, io, json);
  if (status === RunStatus.Running) {
    io.err(`Stopped following; run ${runId} is still running. Follow it again with parley runs show ${runId}, or stop it with parley runs cancel ${runId}.`);
    return { code: 130 };
  }
  if (status !== RunStatus.Completed) {
    io.err(`Run ${runId} ended ${status}; there is no result. parley runs show ${runId} lists each step at each site.`);
    return { code: 1 };
  }
  const result = await callApi(session, `Fetching the result of ${runId}`, (c) => c.chainRunResult(runId));
  return { code: 0, result: await showResult(result, { keyFile, session, chain: run.chain }, io, json) };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Start a chain from a YAML or JSON file (researcher); --wait follows it',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(['run', ...argv], 'run', ['file'], {
      ...API_OPTIONS, collab: { type: 'string' }, sites: { type: 'string' }, wait: { type: 'boolean', default: false }, key: { type: 'string' },
      'site-down-tolerance': { type: 'string' },
    });
    const fileName = args[0]!;
    const sites = values.sites === undefined ? undefined : parseSites(values.sites);
    const tolerance = values['site-down-tolerance'] === undefined ? undefined : parseSiteDownTolerance(values['site-down-tolerance']);
    const loaded = await loadChainFile(fileName, io);
    if (loaded === undefined) {
      io.err('Nothing was started.');
      return 2;
    }
    const { file } = loaded;
    const participants = sites ?? file.sites;

    const { default: Docker } = await import('dockerode');
    const docker = new Docker();
    const resolved = await resolveChain(file, { resolveImage: dockerImageResolver(docker), ...(participants ? { participants } : {}) });
    if (!resolved.ok) {
      for (const problem of resolved.problems) io.err(problemLine(fileName, loaded.place(problem)));
      io.err('Nothing was started.');
      return 2;
    }
    // Each image is on the engine now (it was just pinned): args that break its schema stop here.
    const argsCheck = await checkChainArgs(file, docker);
    if (argsCheck.problems.length > 0) {
      for (const problem of argsCheck.problems) io.err(problemLine(fileName, loaded.place(problem)));
      io.err('Nothing was started: the args above break their algorithm\'s schema.');
      return 2;
    }

    // After the file's own checks, before anything is contacted.
    if (values.key === undefined) throw new UsageError('--key is required: every site checks that your organisation signed the run, with its key file (the one `parley org create` published the public half of).');
    const session = await openSession(io, values.api);
    const collab = await findCollaboration(session, values.collab);
    const keys = await readKeyFile(values.key!);
    if (keys.org !== session.login.orgId) {
      throw new ParleyError(ErrorCode.InvalidInput, `${values.key} holds the keys of "${keys.org}", but you are logged in for "${session.login.orgId}". Give your organisation's key file.`);
    }
    const signer = { keys, collaboration: collab.id };
    const run = await callApi(session, `Starting chain "${file.name}" in "${collab.name}"`, (c) => startChainThroughApi(c, signer, {
      chain: resolved.spec, ...(participants ? { participants } : {}), ...(tolerance !== undefined ? { siteDownToleranceMs: tolerance } : {}),
    }));
    if (!values.wait) {
      if (values.json) io.out(JSON.stringify(run));
      else {
        io.out(`Started run ${run.id}: chain "${file.name}" at ${run.participants.join(', ')}.`);
        io.err(`Follow it: parley runs show ${run.id}; its result, once completed: parley result ${run.id}`);
      }
      return 0;
    }
    if (!values.json) io.err(`Started run ${run.id}: chain "${file.name}" at ${run.participants.join(', ')}. Following it (Ctrl-C stops following, not the run):`);
    const outcome = await waitForResult(session, run, values.key, io, values.json);
    if (values.json) io.out(toJson({ run, ...(outcome.result ? { result: outcome.result } : {}) }));
    return outcome.code;
  },
};
