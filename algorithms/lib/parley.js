/**
 * The library an algorithm uses inside its Parley container: plain JavaScript, Node built-ins
 * only, no build step. Import it as `#parley` (the image's /app/package.json maps it here).
 *
 * What the container sees is fixed by the container contract (DESIGN.md): the step's arguments
 * and ids in the environment, its inputs as files already opened by the site worker, the run
 * volume, the read-only datasets, and the worker's socket, the only way anything leaves.
 *
 * Nothing here logs a value: an algorithm's log lines travel with a failure — sealed for the
 * site's own operator, off the failure's readable first line, but still read by people — so they
 * must not carry data. Write what went wrong, never what a value was.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { basename, join } from 'node:path';

const INPUT_DIR = '/run/parley/input';
const SOCKET_PATH = '/run/parley/node.sock';
const DATA_DIR = '/data';
const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The run volume: private to this run at this site, kept across the run's steps here. */
export const volumePath = '/run/parley/volume';

/**
 * Writes `message` to stderr and exits 1: the step fails and the site reports the message among
 * the container's last log lines. Never put a value in it.
 * @param {string} message
 * @returns {never}
 */
export function fail(message) {
  // stderr is a pipe under Docker, and pipe writes are synchronous in Node, so exiting right
  // after does not lose the line.
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** @param {string | undefined} raw */
function parseArgs(raw) {
  if (raw === undefined || raw === '') return {};
  try {
    return JSON.parse(raw);
  } catch {
    return fail('PARLEY_ARGS is not valid JSON: the site worker passes the step\'s arguments there.');
  }
}

/** The disclosure threshold when the site worker passes none. */
const DEFAULT_MIN_ROWS = 10;

/**
 * The site operator's disclosure threshold: the fewest rows an aggregate this step releases may
 * rest on (PARLEY_MIN_ROWS, a positive decimal integer the site worker sets from its
 * configuration's `disclosureThreshold`; 10 when absent). An algorithm that releases an
 * aggregate over fewer rows must fail instead, and release nothing. Read when called, so an
 * algorithm that releases no aggregate never fails over it.
 * @returns {number}
 */
export function minRows() {
  const raw = process.env.PARLEY_MIN_ROWS;
  if (raw === undefined || raw === '') return DEFAULT_MIN_ROWS;
  if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) < 1) {
    return fail('PARLEY_MIN_ROWS is not a positive whole number: the site worker sets it from its disclosureThreshold.');
  }
  return Number(raw);
}

/** The step's arguments (JSON from PARLEY_ARGS; `{}` when none). */
export const args = parseArgs(process.env.PARLEY_ARGS);
/** The run this step belongs to. */
export const runId = process.env.PARLEY_RUN_ID ?? '';
/** This step's id within the run. */
export const step = process.env.PARLEY_STEP ?? '';
/** The organisation (site) this step runs at. */
export const org = process.env.PARLEY_ORG ?? '';
/** Every organisation taking part in the run, in the run's order. */
export const participants = (process.env.PARLEY_PARTICIPANTS ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p !== '');

/**
 * The step's inputs: each entry of /run/parley/input/index.json (`{ file, from, step, seq }`)
 * with its file's parsed JSON as `content`. No inputs (no index) gives an empty list. A missing
 * or malformed file fails the step.
 * @returns {Array<{ file: string, from: string, step: string, seq: number, content: unknown }>}
 */
export function readInputs() {
  let index;
  try {
    index = JSON.parse(readFileSync(join(INPUT_DIR, 'index.json'), 'utf8'));
  } catch (err) {
    if (err && err.code === 'ENOENT') return [];
    return fail('The step\'s input index (/run/parley/input/index.json) is not readable JSON.');
  }
  if (!Array.isArray(index)) return fail('The step\'s input index is not a list.');
  return index.map((entry, i) => {
    if (!entry || typeof entry.file !== 'string') return fail(`Input ${i} in the step's index names no file.`);
    // basename: an index entry can only name a file in the input directory itself.
    const path = join(INPUT_DIR, basename(entry.file));
    let content;
    try {
      content = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      return fail(`Input ${i} (${basename(entry.file)}) is missing or not JSON.`);
    }
    return { file: entry.file, from: entry.from, step: entry.step, seq: entry.seq, content };
  });
}

/**
 * The read-only directory of one of the site's datasets the step asked for.
 * @param {string} dataset
 * @returns {string}
 */
export function dataPath(dataset) {
  if (typeof dataset !== 'string' || !DATASET_NAME.test(dataset)) {
    throw new TypeError('A dataset name is one path segment of letters, digits, ".", "_" or "-".');
  }
  return join(DATA_DIR, dataset);
}

/** A file name in the run volume: one path segment, so a step cannot write outside it. */
const VOLUME_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The path of `name` in the run volume; TypeError unless `name` is one plain path segment.
 * @param {string} name
 */
export function volumeFile(name) {
  if (typeof name !== 'string' || !VOLUME_FILE.test(name)) {
    throw new TypeError('A run-volume file name is one path segment of letters, digits, ".", "_" or "-".');
  }
  return join(volumePath, name);
}

/**
 * Writes `content` as JSON to `name` in the run volume, readable by the sandbox user only
 * (0600), through a temporary file and a rename, so a later step never reads half a file.
 * @param {string} name
 * @param {unknown} content
 */
export function writeVolumeJson(name, content) {
  const path = volumeFile(name);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(content)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/**
 * Reads and parses the JSON file `name` in the run volume. Returns undefined when it does not
 * exist; fails the step (naming the file, not its content) when it is not JSON.
 * @param {string} name
 * @returns {unknown}
 */
export function readVolumeJson(name) {
  let text;
  try {
    text = readFileSync(volumeFile(name), 'utf8');
  } catch (err) {
    if (err && err.code === 'ENOENT') return undefined;
    return fail(`${name} in the run volume is not readable.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    return fail(`${name} in the run volume is not valid JSON: the step that wrote it did not finish, or wrote something else.`);
  }
}

/**
 * POSTs JSON to the site worker's socket; resolves with its JSON answer, rejects with the
 * worker's error message on any other status.
 * @param {string} path
 * @param {unknown} body
 */
function post(path, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: SOCKET_PATH,
        path,
        method: 'POST',
        // A fresh connection per call: an idle keep-alive socket would only delay the exit.
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let answer = {};
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          } catch {
            // an unreadable answer is reported by status below
          }
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) resolve(answer);
          else reject(new Error(`The site worker refused POST ${path} (${res.statusCode}): ${answer.error ?? 'no reason given'}`));
        });
      },
    );
    req.on('error', (err) => reject(new Error(`The site worker's socket did not answer POST ${path}: ${err.code ?? err.message}`)));
    req.end(payload);
  });
}

/**
 * Sends `content` to organisation `to`; the site worker seals it for them after the step.
 * Rejects when the worker refuses (for example, `to` is not a recipient this step may address).
 * @param {string} to
 * @param {unknown} content any JSON value
 * @returns {Promise<void>}
 */
export async function send(to, content) {
  if (content === undefined) throw new TypeError('send(to, content): a message needs content (any JSON value).');
  // The content's JSON is the whole body, which the worker streams to disk as it comes: a large
  // message is never held whole by the worker (the older POST /v1/messages {to, content} still works).
  await post(`/v1/messages/${encodeURIComponent(to)}`, content);
}

/**
 * Tells the site worker which rows of `dataset` the step's cohort holds, by their ids. The
 * worker keeps them (as keyed hashes) in its release ledger and refuses a cohort that differs
 * from one it released before by fewer rows than its disclosure threshold: the step then fails
 * and nothing it produced leaves the site. Never sent to anyone. At most once per dataset.
 * @param {string} dataset one of the datasets the step mounted
 * @param {string[]} rows the row ids
 * @returns {Promise<void>}
 */
export async function reportCohort(dataset, rows) {
  await post('/v1/cohort', { dataset, rows });
}

/**
 * Records the step's result for the run's requester. A step has at most one output.
 * @param {unknown} content any JSON value
 * @returns {Promise<void>}
 */
export async function output(content) {
  await post('/v1/output', { content });
}
