/**
 * What the API needs from outside, injected by whoever builds it (the central process, tests),
 * and the defaults that make the one-machine setup work.
 */
import type { Database } from '../db/client.ts';
import type { ScryptCost } from './auth/password.ts';
import { DEFAULT_SCRYPT_COST } from './auth/password.ts';
import type { LoginThrottle } from './auth/login-throttle.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import type { RateLimit } from './auth/rate-limit.ts';
import type { TokenService } from './auth/tokens.ts';
import { createTokenService } from './auth/tokens.ts';
import type { Logger } from './logger.ts';
import { createJsonLogger } from './logger.ts';
import type { RunLauncher } from './runs/launcher.ts';
import type { BlobBackend } from './blobs/blob-backend.ts';
import { createBlobDir } from './blobs/blob-dir.ts';

/** Everything createApp needs. Only db, tokenSecret and runs are required. */
export interface AppDeps {
  /** The migrated database (db/client.ts openDatabase). */
  db: Database;
  /** HS256 key for access tokens: at least 32 random bytes. Tokens die with it. */
  tokenSecret: Uint8Array;
  /** Starts and describes run workflows (createTemporalRunLauncher over a @temporalio/client Client). */
  runs: RunLauncher;
  /** The clock; tests move it. Default: the system clock. */
  now?: () => Date;
  /** Default: JSON lines on stderr. */
  logger?: Logger;
  /** Access-token lifetime. Default 900 s (15 minutes). */
  accessTokenTtlSeconds?: number;
  /** scrypt cost for new password hashes. Default N = 2^17, r = 8, p = 1. */
  passwordCost?: ScryptCost;
  /** Login attempts per username, from any address. Default 5 per 300 s. */
  loginLimit?: RateLimit;
  /** Login attempts per client address, for any username. Default 4 × loginLimit's max, same window. */
  loginAddressLimit?: RateLimit;
  /** Largest request body accepted. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * Where the API keeps the blob store of sealed envelopes too large for a workflow history
   * (api/blobs/). Without it there is no /v1/blobs, and steps that send large messages fail.
   */
  blobDir?: string;
  /**
   * The blob store itself, instead of blobDir: e.g. an S3-compatible store (blobs/blob-s3.ts).
   * The caller keeps one instance for the app and its retention sweeps.
   */
  blobStore?: BlobBackend;
  /** Largest blob stored. Default 1 GiB, a site's default limit on what one step sends. */
  maxBlobBytes?: number;
}

/** The resolved dependencies every sub-app is built with. */
export interface Services {
  db: Database;
  runs: RunLauncher;
  tokens: TokenService;
  now: () => Date;
  logger: Logger;
  passwordCost: ScryptCost;
  loginThrottle: LoginThrottle;
  maxBodyBytes: number;
  /** Where blobs are kept; undefined: no /v1/blobs. */
  blobs: BlobBackend | undefined;
  maxBlobBytes: number;
}

function loginThrottleOf(deps: AppDeps): LoginThrottle {
  const perUser = deps.loginLimit ?? { max: 5, windowSeconds: 300 };
  return createLoginThrottle({ perUser, perAddress: deps.loginAddressLimit ?? { max: 4 * perUser.max, windowSeconds: perUser.windowSeconds } });
}

/**
 * Fills in the defaults.
 *
 * @throws TypeError when a dependency is missing or out of range (a programming mistake).
 */
export function resolveServices(deps: AppDeps): Services {
  if (deps.db === undefined || deps.runs === undefined) throw new TypeError('createApp needs db and runs');
  const now = deps.now ?? (() => new Date());
  const ttl = deps.accessTokenTtlSeconds ?? 900;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) throw new TypeError('accessTokenTtlSeconds must be 1..86400');
  return {
    db: deps.db,
    runs: deps.runs,
    tokens: createTokenService(deps.tokenSecret, ttl, now),
    now,
    logger: deps.logger ?? createJsonLogger(),
    passwordCost: deps.passwordCost ?? DEFAULT_SCRYPT_COST,
    loginThrottle: loginThrottleOf(deps),
    maxBodyBytes: deps.maxBodyBytes ?? 64 * 1024,
    blobs: deps.blobStore ?? (deps.blobDir !== undefined ? createBlobDir(deps.blobDir) : undefined),
    maxBlobBytes: deps.maxBlobBytes ?? 1024 ** 3,
  };
}
