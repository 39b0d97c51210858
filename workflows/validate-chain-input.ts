import { ApplicationFailure } from '@temporalio/workflow';
import { CHAIN_NAME, CHAIN_STEP_ID, MIN_LINK_SOURCES, MIN_SECURE_SUM_SITES, MODULUS, SECURE_SUM_PROTOCOLS, VOLUME_FILE, type ChainRunInput, type ChainStep } from '../common/chain.ts';
import { ErrorCode } from '../common/errors.ts';
import { verticalPlan } from '../common/vertical.ts';
import { MAX_DELTA, MAX_EPSILON } from '../common/privacy/protocol-privacy.ts';
import { DATASET_NAME, IMAGE_DIGEST, isOrgId } from '../common/ids.ts';

function bad(message: string): never {
  throw ApplicationFailure.nonRetryable(message, ErrorCode.InvalidInput);
}

/**
 * Refuses a chain that cannot run, before any site does anything. The chain file's parser checks
 * the same and more, with line numbers; this is the workflow's own guard for chains started by
 * any client, so it checks what the workflow relies on.
 */
export function validateChainInput(input: ChainRunInput): void {
  const { chain, participants, requester } = input;
  if (!chain || typeof chain.name !== 'string' || !CHAIN_NAME.test(chain.name)) bad('The chain needs a name: a lowercase slug such as "cohort-mean".');
  if (!Array.isArray(participants) || participants.length === 0) bad('A chain run needs at least one participant.');
  for (const org of participants) if (!isOrgId(org)) bad(`Participant ${JSON.stringify(org)} is not an organisation id ([a-z][a-z0-9-]*).`);
  if (new Set(participants).size !== participants.length) bad('Each participant may appear only once.');
  if (!isOrgId(requester)) bad(`Requester ${JSON.stringify(requester)} is not an organisation id.`);
  if (participants.includes(requester)) bad('The requester must not be a participant: outputs are sealed for it, and it would see its own data mixed with the others\'.');
  if (input.stepTimeoutMs !== undefined) checkTimeout(input.stepTimeoutMs, 'stepTimeoutMs');
  // Sites verify it; the coordinator only refuses a run that cannot carry one.
  if (typeof input.manifest !== 'string' || input.manifest.split('.').length !== 3) bad('The run carries no signed manifest: start it with a researcher\'s client, which signs one (researcher/), or through the API.');
  if (!Array.isArray(chain.steps) || chain.steps.length === 0) bad(`Chain "${chain.name}" has no steps.`);

  const earlier = new Map<string, ChainStep>();
  for (const step of chain.steps) {
    const where = `Step ${JSON.stringify(step?.id)}`;
    if (typeof step?.id !== 'string' || !CHAIN_STEP_ID.test(step.id)) bad(`${where}: a step id is a lowercase slug of at most 32 characters.`);
    if (earlier.has(step.id)) bad(`${where} appears twice: step ids are unique in a chain.`);
    if (!step.image || typeof step.image.name !== 'string' || step.image.name === '' || typeof step.image.digest !== 'string' || !IMAGE_DIGEST.test(step.image.digest)) {
      bad(`${where}: the image must be pinned by name and sha256 digest.`);
    }
    if (!Array.isArray(step.after)) bad(`${where}: "after" must be a list of earlier step ids.`);
    for (const id of step.after) if (!earlier.has(id)) bad(`${where} runs after "${id}", which is not an earlier step of the chain.`);
    if (step.timeoutMs !== undefined) checkTimeout(step.timeoutMs, `${where}: timeoutMs`);

    if (step.kind === 'container') {
      if (step.at !== undefined) {
        if (!Array.isArray(step.at) || step.at.length === 0) bad(`${where}: "at" must list at least one participant (or be left out for all of them).`);
        for (const org of step.at) if (!participants.includes(org)) bad(`${where} runs at "${org}", which is not a participant of this run.`);
        if (new Set(step.at).size !== step.at.length) bad(`${where} lists a site twice in "at".`);
      }
      if (!Array.isArray(step.datasets) || step.datasets.some((d) => typeof d !== 'string' || !DATASET_NAME.test(d))) bad(`${where}: "datasets" must be a list of dataset names.`);
      if (typeof step.args !== 'object' || step.args === null || Array.isArray(step.args)) bad(`${where}: "args" must be an object.`);
      if (!Array.isArray(step.inputs)) bad(`${where}: "inputs" must be a list of earlier step ids.`);
      for (const id of step.inputs) {
        const source = earlier.get(id);
        if (!source) bad(`${where} reads the messages of "${id}", which is not an earlier step of the chain.`);
        if (source.kind !== 'container') bad(`${where} reads the messages of "${id}", a ${source.kind}: its messages belong to its own protocol; read its result instead.`);
      }
    } else if (step.kind === 'secure-sum') {
      if (!(SECURE_SUM_PROTOCOLS as readonly string[]).includes(step.protocol)) bad(`${where}: the protocol must be one of ${SECURE_SUM_PROTOCOLS.join(', ')}.`);
      if (participants.length < MIN_SECURE_SUM_SITES) bad(`${where} is a secure sum, which needs at least ${MIN_SECURE_SUM_SITES} participants; this run has ${participants.length}.`);
      if (typeof step.values !== 'string' || !VOLUME_FILE.test(step.values)) bad(`${where}: "values" must name a file in the run volume, such as statistics.json.`);
      if (typeof step.modulus !== 'string' || !MODULUS.test(step.modulus)) bad(`${where}: the modulus must be a decimal integer of at least 100.`);
      if (step.privacy !== undefined && !isPrivacySpec(step.privacy)) bad(`${where}: privacy must be { epsilon, delta } with 0 < epsilon ≤ ${MAX_EPSILON} and 0 < delta ≤ ${MAX_DELTA}.`);
      if (step.after.length === 0) bad(`${where} sums values an earlier step wrote: it must run "after" that step.`);
    } else if (step.kind === 'link') {
      if (typeof step.identifier !== 'string' || step.identifier === '') bad(`${where}: "identifier" must name the identifier column.`);
      if (!Array.isArray(step.sources) || step.sources.length < MIN_LINK_SOURCES) bad(`${where} is a link, which needs at least ${MIN_LINK_SOURCES} sources.`);
      for (const source of step.sources) {
        if (!participants.includes(source?.at)) bad(`${where} links at "${source?.at}", which is not a participant of this run.`);
        if (typeof source.dataset !== 'string' || !DATASET_NAME.test(source.dataset)) bad(`${where}: each source names a dataset.`);
        if (source.complete !== undefined && (!Array.isArray(source.complete) || !source.complete.every((c) => typeof c === 'string' && c !== ''))) bad(`${where}: a source's "complete" lists column names.`);
      }
      if (new Set(step.sources.map((s) => s.at)).size !== step.sources.length) bad(`${where} lists a site twice in "sources".`);
    } else if (step.kind === 'vertical') {
      if (!earlier.has(step.linked) || !step.after.includes(step.linked)) bad(`${where} reads the rows linked by "${step.linked}", which must be an earlier step it runs after.`);
      if (typeof step.modulus !== 'string' || !MODULUS.test(step.modulus)) bad(`${where}: the modulus must be a decimal integer of at least 100.`);
      if ([step.crosstab, step.summary, step.regression].filter((a) => a !== undefined).length !== 1) bad(`${where} needs exactly one of crosstab, summary or regression.`);
      try {
        verticalPlan(step, participants);
      } catch (err) {
        bad(`${where}: ${(err as Error).message}`);
      }
    } else {
      bad(`${where} is of an unknown kind; a step is a "container" step, a "secure-sum", a "link" or a "vertical" step.`);
    }
    earlier.set(step.id, step);
  }
}

function checkTimeout(ms: unknown, what: string): void {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1000) bad(`${what} must be a whole number of milliseconds, at least 1000.`);
}

function isPrivacySpec(p: unknown): boolean {
  const { epsilon, delta } = (typeof p === 'object' && p !== null ? p : {}) as { epsilon?: unknown; delta?: unknown };
  return typeof epsilon === 'number' && epsilon > 0 && epsilon <= MAX_EPSILON && typeof delta === 'number' && delta > 0 && delta <= MAX_DELTA;
}
