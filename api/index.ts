/**
 * api/: Parley's central REST server. What the central process (`parley server start`) needs:
 * build the app over a database and a Temporal client, create the first admin, and listen.
 */
export { createApp } from './app.ts';
export type { AppDeps } from './deps.ts';
export { ensureAdmin } from './bootstrap.ts';
export type { BootstrapAdmin } from './bootstrap.ts';
export { startServer } from './server.ts';
export type { RunningServer, ServeOptions } from './server.ts';
export { createTemporalRunLauncher } from './runs/launcher.ts';
export type { RingRunInput, RunLauncher, TemporalRunLauncherOptions } from './runs/launcher.ts';
export { createJsonLogger, silentLogger } from './logger.ts';
export type { Logger, LogFields } from './logger.ts';
export { DEFAULT_SCRYPT_COST } from './auth/password.ts';
export type { ScryptCost } from './auth/password.ts';
