/**
 * Makes sure a Docker engine answers: the one at DOCKER_HOST when set, else the local one,
 * which on a fresh machine of ours means installing Debian's docker.io and starting dockerd.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { aptInstall } from './apt.ts';
import type { Progress } from './temporal-cli.ts';

/** A Docker client honouring DOCKER_HOST (dockerode reads it). */
export function createDockerClient(): Docker {
  return new Docker();
}

async function pings(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    try {
      await access(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Waits until the engine answers a ping; dockerd takes a second or two to open its socket. */
async function waitForEngine(docker: Docker, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  while (Date.now() < deadline) {
    if (await pings(docker)) return true;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
  return pings(docker);
}

/**
 * Returns a Docker client whose engine answers. Installs and starts the local engine when we
 * are root on a Debian-like machine; otherwise throws a Prerequisite error saying what to run.
 */
export async function ensureDockerEngine(progress: Progress): Promise<Docker> {
  const docker = createDockerClient();
  if (await pings(docker)) return docker;
  if (process.env.DOCKER_HOST) {
    throw new ParleyError(
      ErrorCode.Prerequisite,
      `No Docker engine answers at DOCKER_HOST=${process.env.DOCKER_HOST}. Start that engine, or unset DOCKER_HOST to use the local one.`,
    );
  }
  const isRoot = process.getuid?.() === 0;
  let dockerd = await onPath('dockerd');
  if (!dockerd) {
    if (!isRoot || !(await onPath('apt-get'))) {
      throw new ParleyError(
        ErrorCode.Prerequisite,
        'No Docker engine is installed. Install one (on Debian: sudo apt-get install -y docker.io && sudo systemctl start docker), then run this again.',
      );
    }
    progress('Installing the Docker engine (apt-get install docker.io)…');
    if (!(await aptInstall(['docker.io'], progress))) {
      throw new ParleyError(ErrorCode.Prerequisite, 'apt-get install docker.io failed. Run it yourself to see why, then run this again.');
    }
    dockerd = await onPath('dockerd');
  }
  if (!isRoot || !dockerd) {
    throw new ParleyError(
      ErrorCode.Prerequisite,
      'The Docker engine is installed but not running, and only root can start it. Run: sudo systemctl start docker (or sudo dockerd &).',
    );
  }
  progress('Starting the Docker engine (dockerd)…');
  // Detached: the engine is machine infrastructure and outlives this command, like a service.
  const log = openSync('/var/log/parley-dockerd.log', 'a');
  spawn(dockerd, [], { detached: true, stdio: ['ignore', log, log] }).unref();
  if (!(await waitForEngine(docker, 60_000))) {
    throw new ParleyError(ErrorCode.Prerequisite, 'dockerd was started but did not answer within 60 s. See /var/log/parley-dockerd.log.');
  }
  progress('Docker engine is up.');
  return docker;
}
