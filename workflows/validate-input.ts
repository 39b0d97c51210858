import { ApplicationFailure } from '@temporalio/workflow';
import { DATASET_NAME, IMAGE_DIGEST, isOrgId } from '../common/ids.ts';
import type { SecureSumInput } from './secure-sum-ring.ts';


function bad(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'ERR_INVALID_INPUT');
}

/** Refuses a secure-sum request that cannot run, before any site does anything. */
export function validateSecureSumInput(input: SecureSumInput): void {
  const { participants, requester, dataset, modulus, image } = input;
  if (!Array.isArray(participants) || participants.length < 3) {
    bad('A secure sum needs at least 3 participants: with 2, each would learn the other\'s value from the total.');
  }
  for (const org of participants) if (!isOrgId(org)) bad(`Participant ${JSON.stringify(org)} is not an organisation id ([a-z][a-z0-9-]*).`);
  if (new Set(participants).size !== participants.length) bad('Each participant may appear only once.');
  if (!isOrgId(requester)) bad(`Requester ${JSON.stringify(requester)} is not an organisation id.`);
  if (participants.includes(requester)) bad('The requester must not be a participant: it would learn the total and its own value.');
  if (typeof dataset !== 'string' || !DATASET_NAME.test(dataset)) bad(`Dataset name ${JSON.stringify(dataset)} is not valid.`);
  if (typeof modulus !== 'string' || !/^[1-9][0-9]{0,77}$/.test(modulus) || modulus.length < 3) {
    bad('The modulus must be a decimal integer of at least 100.');
  }
  if (!image || typeof image.name !== 'string' || !image.name || typeof image.digest !== 'string' || !IMAGE_DIGEST.test(image.digest)) {
    bad('The image must be given by name and sha256 digest.');
  }
  if (typeof input.manifest !== 'string' || input.manifest.split('.').length !== 3) {
    bad('The run carries no signed manifest: start it with a researcher\'s client, which signs one (researcher/), or through the API.');
  }
  if (input.stepTimeoutMs !== undefined && (!Number.isInteger(input.stepTimeoutMs) || input.stepTimeoutMs < 1000)) {
    bad('stepTimeoutMs must be a whole number of milliseconds, at least 1000.');
  }
}
