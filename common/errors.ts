/**
 * Parley's error vocabulary. Every error a person or another part may act on is a ParleyError
 * with a stable `code`; the ids involved travel as fields so logs and the API can use them
 * without parsing messages. Messages say what happened, why, and what to do.
 */

/** The closed set of error codes; switch on `err.code` to narrow. */
export const ErrorCode = {
  /** An envelope failed decryption or its signature did not verify (deliberately vague). */
  EnvelopeTampered: 'ERR_ENVELOPE_TAMPERED',
  /** An envelope was opened by an organisation it was not sealed for. */
  EnvelopeRecipient: 'ERR_ENVELOPE_RECIPIENT',
  /** An envelope's signed run or step differs from where it is being opened. */
  EnvelopeBinding: 'ERR_ENVELOPE_BINDING',
  /** An envelope's (run, sender, sequence) was already opened for another envelope or step. */
  EnvelopeReplayed: 'ERR_ENVELOPE_REPLAYED',
  /** An envelope names a sender whose signing key is not known. */
  UnknownSender: 'ERR_UNKNOWN_SENDER',
  /** A key file or JWK is malformed, of the wrong kind, or readable by others. */
  KeyInvalid: 'ERR_KEY_INVALID',
  /** An organisation's published key differs from the one pinned at first use. */
  KeyChanged: 'ERR_KEY_CHANGED',
  /** A step asked for an image that is not on the site's allow-list (by name and digest). */
  ImageNotAllowed: 'ERR_IMAGE_NOT_ALLOWED',
  /** A step asked for a dataset the site does not have. */
  DatasetUnknown: 'ERR_DATASET_UNKNOWN',
  /** The algorithm exited non-zero; carries its last log lines. */
  StepFailed: 'ERR_STEP_FAILED',
  /** The algorithm ran past its wall-clock timeout and was killed. */
  StepTimeout: 'ERR_STEP_TIMEOUT',
  /** A site's worker took none of the run's steps for longer than the run's site-down tolerance. */
  SiteDown: 'ERR_SITE_DOWN',
  /** The kernel killed the algorithm for going past the site's memory limit (site.yaml `limits.memoryMb`). */
  StepOutOfMemory: 'ERR_STEP_OUT_OF_MEMORY',
  /** The algorithm talked to the node socket in a way the contract does not allow. */
  StepProtocol: 'ERR_STEP_PROTOCOL',
  /**
   * A release would disclose a count below the site's disclosure threshold (a whole cohort too
   * small, or a result the site cannot check cell by cell); nothing was released.
   */
  DisclosureThreshold: 'ERR_DISCLOSURE_THRESHOLD',
  /**
   * A cohort differs from one the site released earlier from the same dataset by fewer rows than
   * its disclosure threshold: the two results together would single out those rows.
   */
  DisclosureDifference: 'ERR_DISCLOSURE_DIFFERENCE',
  /** A run's signed manifest is missing, does not verify, is expired, or belongs to another run. */
  ManifestInvalid: 'ERR_MANIFEST_INVALID',
  /** The site's policy does not admit this collaboration, requester, participant or dataset. */
  RunNotAdmitted: 'ERR_RUN_NOT_ADMITTED',
  /** A step asked of a site is not what the run's signed manifest implies. */
  StepNotInManifest: 'ERR_STEP_NOT_IN_MANIFEST',
  /** An image was asked to run in a role its allow-list entry does not give it. */
  ImageRoleNotAllowed: 'ERR_IMAGE_ROLE',
  /**
   * A release would take a dataset's privacy spend (its charges composed, within the budget's
   * renewal window) above the ε of the budget its site keeps for it; nothing was charged.
   */
  PrivacyBudget: 'ERR_PRIVACY_BUDGET',
  /** A release the site's policy refuses: too few sites, too small a modulus, an output not allowed out. */
  ReleaseRefused: 'ERR_RELEASE_REFUSED',
  /** A step sent more bytes in all than its site's `limits.stepSendBytes` allows; nothing of it left the site. */
  StepBytesLimit: 'ERR_STEP_BYTES_LIMIT',
  /** A step sent more messages than its site's `limits.stepMessages` allows; nothing of it left the site. */
  StepMessagesLimit: 'ERR_STEP_MESSAGES_LIMIT',
  /** A blob a step's input refers to is not in the blob store (never stored, or removed with its run). */
  BlobMissing: 'ERR_BLOB_MISSING',
  /** Input from a person or a file does not validate. */
  InvalidInput: 'ERR_INVALID_INPUT',
  /** A base or algorithm image could not be built (the engine refused its context or a step failed). */
  ImageBuild: 'ERR_IMAGE_BUILD',
  /** Something Parley needs on this machine (Docker, Temporal CLI, an image) is missing. */
  Prerequisite: 'ERR_PREREQUISITE',
  /** The API request carried no valid access token or site credential (HTTP 401). */
  Unauthenticated: 'ERR_UNAUTHENTICATED',
  /** The caller is known but its role or organisation may not do this (HTTP 403). */
  Forbidden: 'ERR_FORBIDDEN',
  /** The id named in an API request does not exist, or is not visible to the caller (HTTP 404). */
  NotFound: 'ERR_NOT_FOUND',
  /** The request clashes with what exists: a duplicate name, a revoked site, an unfinished run (HTTP 409). */
  Conflict: 'ERR_CONFLICT',
  /** The request body is larger than the API accepts (HTTP 413). */
  PayloadTooLarge: 'ERR_PAYLOAD_TOO_LARGE',
  /** Too many attempts, e.g. failed logins; retry after the time given (HTTP 429). */
  RateLimited: 'ERR_RATE_LIMITED',
  /** A service the API depends on (Temporal, the database) is unreachable (HTTP 503). */
  Unavailable: 'ERR_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of every Parley error: a stable code, a message for people, and the ids involved. */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, string | number | boolean | undefined> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ParleyError';
    this.code = code;
    this.details = details;
  }
}

/** True for a ParleyError, optionally of one code. */
export function isParleyError(err: unknown, code?: ErrorCode): err is ParleyError {
  return err instanceof ParleyError && (code === undefined || err.code === code);
}
