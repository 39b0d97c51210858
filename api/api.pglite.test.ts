/**
 * The API suites on PGlite, the embedded default.
 */
import { openDatabase } from '../db/client.ts';
import { registerApiSuites } from './api.suites.ts';
import { useApiHarness } from './testing/harness.ts';

registerApiSuites(useApiHarness('pglite', () => openDatabase()));
