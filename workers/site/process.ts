/**
 * A site worker as its own process, built from the site configuration: the organisation's keys,
 * its datasets (checked), other organisations' keys over the API with pinning, the run ledger,
 * and the Temporal connection (TLS, mTLS, API key). Used by `parley site start`.
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import Docker from 'dockerode';
import { createApiClient } from '../../activities/api-client.ts';
import { apiBlobStore } from '../../activities/blob-store.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { pinnedKeyDirectory } from '../../activities/pinned-key-directory.ts';
import { createRunLedger } from '../../activities/run-ledger.ts';
import type { SiteDeps } from '../../activities/site-activities.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { siteTaskQueue } from '../../common/ids.ts';
import { buildSiteWorker } from './build-site-worker.ts';
import { sitePolicyOf, type SiteConfig } from './config.ts';
import type { SiteLog } from './log.ts';
import { temporalConnectionError } from './temporal-connection-error.ts';
import { PreparedSteps } from '../../activities/prepared-steps.ts';

/** Where the site keeps other organisations' pinned key thumbprints. */
export function pinFileOf(config: SiteConfig): string {
  return join(config.stateDir, 'pins.json');
}

/**
 * Reads a secret from its own file, refusing one readable by group or others.
 * @throws ParleyError InvalidInput naming the config key, the file and the fix.
 */
export async function readSecretFile(file: string, key: string, hint: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch {
    throw new ParleyError(ErrorCode.InvalidInput, `${key}: no file at ${file}. ${hint}`, { path: file, key });
  }
  if ((mode & 0o077) !== 0) {
    throw new ParleyError(ErrorCode.InvalidInput, `${key}: ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}), so the secret in it may have been seen. Run: chmod 600 ${file}`, { path: file, key });
  }
  const text = (await readFile(file, 'utf8')).trim();
  if (text === '') throw new ParleyError(ErrorCode.InvalidInput, `${key}: ${file} is empty. ${hint}`, { path: file, key });
  return text;
}

/** The site credential, from api.credentialFile. */
export function readSiteCredential(config: SiteConfig): Promise<string> {
  return readSecretFile(
    config.api.credentialFile,
    'api.credentialFile',
    `Register the site with \`parley site register --collab ID --org ${config.organisation}\` and store the credential it prints there (chmod 600).`,
  );
}

/** Each configured dataset must exist and be readable by this process. @throws ParleyError InvalidInput naming it. */
export async function checkDatasets(config: SiteConfig): Promise<void> {
  for (const [name, path] of Object.entries(config.datasets)) {
    try {
      await access(path, constants.R_OK);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not readable by this worker';
      throw new ParleyError(ErrorCode.InvalidInput, `datasets.${name}: ${path} ${why}. Fix the path in ${config.file}, or the file's permissions.`, { dataset: name, path });
    }
  }
}

/** Connection options for Temporal from the configuration: address, TLS or mTLS, API key. */
export async function temporalConnectionOptions(config: SiteConfig) {
  const { address, tls, apiKeyFile } = config.temporal;
  const read = async (file: string, key: string) => {
    try {
      return await readFile(file);
    } catch {
      throw new ParleyError(ErrorCode.InvalidInput, `${key}: cannot read ${file}. Fix the path in ${config.file}.`, { path: file, key });
    }
  };
  const apiKey = apiKeyFile ? await readSecretFile(apiKeyFile, 'temporal.apiKeyFile', 'Put the Temporal API key in it (chmod 600).') : undefined;
  return {
    address,
    ...(tls
      ? {
          tls: {
            ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
            ...(tls.caFile ? { serverRootCACertificate: await read(tls.caFile, 'temporal.tls.caFile') } : {}),
            ...(tls.certFile && tls.keyFile ? { clientCertPair: { crt: await read(tls.certFile, 'temporal.tls.certFile'), key: await read(tls.keyFile, 'temporal.tls.keyFile') } } : {}),
          },
        }
      : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}

/** Builds the site's activity dependencies from its configuration. */
export async function siteDepsFromConfig(config: SiteConfig, credential: string, docker: Docker): Promise<SiteDeps> {
  await checkDatasets(config);
  const keys = await readKeyFile(config.keyFile);
  if (keys.org !== config.organisation) {
    throw new ParleyError(ErrorCode.KeyInvalid, `keyFile: ${config.keyFile} holds the keys of "${keys.org}", not of "${config.organisation}". Point keyFile at ${config.organisation}'s key file.`, { path: config.keyFile });
  }
  const { memoryMb, cpus, pids, stepSendBytes, stepMessages } = config.limits;
  const api = createApiClient(config.api.url, credential);
  return {
    org: config.organisation,
    keys,
    docker,
    directory: pinnedKeyDirectory({ api, pinFile: pinFileOf(config) }),
    blobs: apiBlobStore(api),
    stepLimits: {
      ...(stepSendBytes ? { sendBytes: stepSendBytes } : {}),
      ...(stepMessages ? { messages: stepMessages } : {}),
    },
    datasets: config.datasets,
    allowedImages: config.allowedImages,
    policy: sitePolicyOf(config),
    stateDir: config.stateDir,
    ledger: createRunLedger(join(config.stateDir, 'ledger')),
    disclosureThreshold: config.disclosureThreshold,
    limits: {
      ...(memoryMb ? { memoryBytes: memoryMb * 1024 * 1024 } : {}),
      ...(cpus ? { cpus } : {}),
      ...(pids ? { pids } : {}),
    },
  };
}

export interface SiteProcess {
  /** Resolves when the worker has stopped (after `stop()`, or on a fatal error). */
  run(): Promise<void>;
  /** Stops taking work; running steps get the grace period, then are cancelled. */
  stop(): void;
}

/**
 * Connects to Temporal and builds the site's worker (./build-site-worker.ts, which sweeps the
 * site's orphans first). Call `run()`, then `stop()` on a signal; connections close when `run()`
 * settles.
 * @throws ParleyError when the keys, datasets, credential or Temporal are not usable.
 */
export async function startSiteProcess(config: SiteConfig, log: SiteLog): Promise<SiteProcess> {
  const credential = await readSiteCredential(config);
  const docker = new Docker();
  // Discarded once the worker has stopped: nothing prepared outlives the process (issue 17).
  const prepared = new PreparedSteps();
  const deps = { ...(await siteDepsFromConfig(config, credential, docker)), prepared };
  const options = await temporalConnectionOptions(config);
  const closers: Array<() => Promise<void>> = [() => prepared.discardAll()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    const native = await NativeConnection.connect(options).catch((err: unknown) => Promise.reject(temporalConnectionError(config, err)));
    closers.push(() => native.close());
    const connection = await Connection.connect({ ...options, connectTimeout: '10s' }).catch((err: unknown) => Promise.reject(temporalConnectionError(config, err)));
    closers.push(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const worker = await buildSiteWorker({
      connection: native,
      client,
      namespace: config.temporal.namespace,
      deps,
      maxConcurrentSteps: config.maxConcurrentSteps,
      stepTimeoutCapSeconds: config.limits.stepTimeoutSeconds,
      shutdownGraceSeconds: config.shutdownGraceSeconds,
      log,
    });
    log('info', 'site worker started', {
      org: config.organisation,
      taskQueue: siteTaskQueue(config.organisation),
      temporal: config.temporal.address,
      namespace: config.temporal.namespace,
      tls: config.temporal.tls !== undefined,
      api: config.api.url,
      datasets: Object.keys(config.datasets).length,
      allowedImages: config.allowedImages.length,
      maxConcurrentSteps: config.maxConcurrentSteps,
    });
    let stopping = false;
    return {
      async run() {
        try {
          // A stop that came before the worker ran: nothing to drain.
          if (stopping) return;
          await worker.run();
        } finally {
          await closeAll();
        }
      },
      stop() {
        if (stopping) return;
        stopping = true;
        log('info', 'site worker stopping', { org: config.organisation, graceSeconds: config.shutdownGraceSeconds });
        if (worker.getState() === 'RUNNING') worker.shutdown();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
