/**
 * What `parley site status` reports: whether Temporal and the API answer (and who the API says
 * this site is), the pinned keys, the allow-list and this site's running Parley containers.
 * Each check reports its own failure; one failing does not hide the others.
 */
import { Connection } from '@temporalio/client';
import Docker from 'dockerode';
import { readPins, type PinFile } from '../../activities/pinned-key-directory.ts';
import { Label } from '../../activities/sandbox/contract.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { SiteConfig } from './config.ts';
import { pinFileOf, readSiteCredential, temporalConnectionOptions } from './process.ts';

export interface SiteStatus {
  organisation: string;
  temporal: { address: string; namespace: string; reachable: boolean; error?: string };
  api: { url: string; reachable: boolean; site?: { id: string; orgId: string; collaborationId: string }; error?: string };
  pins: PinFile;
  allowedImages: ImageRef[];
  containers: Array<{ id: string; run: string; step: string; image: string; state: string; status: string }>;
  containersError?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function temporalStatus(config: SiteConfig): Promise<SiteStatus['temporal']> {
  const base = { address: config.temporal.address, namespace: config.temporal.namespace };
  try {
    const connection = await Connection.connect({ ...(await temporalConnectionOptions(config)), connectTimeout: '3s' });
    try {
      await connection.workflowService.getSystemInfo({});
      return { ...base, reachable: true };
    } finally {
      await connection.close();
    }
  } catch (err) {
    return { ...base, reachable: false, error: message(err) };
  }
}

async function apiStatus(config: SiteConfig): Promise<SiteStatus['api']> {
  const url = config.api.url.replace(/\/+$/, '');
  try {
    const credential = await readSiteCredential(config);
    const response = await fetch(`${url}/v1/sites/me`, { headers: { accept: 'application/json', authorization: `Bearer ${credential}` }, signal: AbortSignal.timeout(5000) });
    const body = (await response.json().catch(() => ({}))) as { id?: string; orgId?: string; collaborationId?: string; detail?: string };
    if (!response.ok) return { url, reachable: true, error: `GET /v1/sites/me: ${body.detail ?? `HTTP ${response.status}`}` };
    return { url, reachable: true, site: { id: String(body.id), orgId: String(body.orgId), collaborationId: String(body.collaborationId) } };
  } catch (err) {
    const unreachable = err instanceof TypeError || (err as Error).name === 'TimeoutError';
    return { url, reachable: !unreachable, error: message(err) };
  }
}

/** Gathers the site's status; never throws for an unreachable part. */
export async function siteStatus(config: SiteConfig, docker: Docker = new Docker()): Promise<SiteStatus> {
  const [temporal, api, pins, containers] = await Promise.all([
    temporalStatus(config),
    apiStatus(config),
    readPins(pinFileOf(config)).catch(() => ({}) as PinFile),
    docker.listContainers({ all: true, filters: { label: [`${Label.Site}=${config.organisation}`] } }).then(
      (list) => ({
        list: list.map((c) => ({ id: c.Id.slice(0, 12), run: c.Labels[Label.Run] ?? '', step: c.Labels[Label.Step] ?? '', image: c.Image, state: c.State, status: c.Status })),
      }),
      (err: unknown) => ({ list: [], error: message(err) }),
    ),
  ]);
  return {
    organisation: config.organisation,
    temporal,
    api,
    pins,
    allowedImages: config.allowedImages,
    containers: containers.list,
    ...('error' in containers ? { containersError: containers.error } : {}),
  };
}
