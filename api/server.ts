/**
 * Serving the API over HTTP with @hono/node-server. The central process (`parley server start`)
 * calls startServer with an app from createApp; port 0 picks a free port.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { closeConnectionsGently } from '../common/lingering-close.ts';

/** Where to listen. */
export interface ServeOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1; use 0.0.0.0 to accept other machines. */
  hostname?: string;
}

/** Anything with a fetch handler, such as the app createApp returns. */
export interface Fetchable {
  fetch(request: Request, env?: never): Response | Promise<Response>;
}

/** A listening API. */
export interface RunningServer {
  /** e.g. `http://127.0.0.1:8620` */
  url: string;
  port: number;
  /** Stops accepting connections and waits for open ones to finish. */
  close(): Promise<void>;
}

/**
 * Listens for HTTP requests and hands them to `app`.
 *
 * @throws the listen error (e.g. EADDRINUSE) when the port cannot be bound.
 */
export function startServer(app: Fetchable, options: ServeOptions = {}): Promise<RunningServer> {
  const hostname = options.hostname ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    // node-server passes { incoming, outgoing } as env: the app reads the client address from it.
    const server = serve({ fetch: (request, env) => app.fetch(request, env as never), port: options.port ?? 0, hostname }, (info: AddressInfo) => {
      server.off('error', reject);
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        close: () => new Promise<void>((done, fail) => {
          server.close((err) => (err ? fail(err) : done()));
          if ('closeIdleConnections' in server) server.closeIdleConnections();
        }),
      });
    });
    server.once('error', reject);
    // An answer given before the request's body was read (a 413) must reach the client whole.
    closeConnectionsGently(server as Server);
  });
}
