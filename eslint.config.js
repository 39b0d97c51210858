// @ts-check
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import importPlugin from 'eslint-plugin-import';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

// Tests, suites, their harness and the benchmarks may import any room: they exercise them.
const TEST_FILES = ['**/*.test.ts', '**/*.suite.ts', 'test/**', 'api/testing/**', 'bench/**'];

/**
 * DESIGN.md, "Direction of imports": cli → demo → researcher/audit/api/workers →
 * activities/workflows → crypto/db → common. Each room lists the rooms its code may import;
 * every other room is refused with a message naming the rule.
 */
const BELOW_PROCESSES = ['activities', 'workflows', 'crypto', 'db', 'chains', 'common'];
const MAY_IMPORT = {
  common: [],
  crypto: ['common'],
  db: ['common'],
  chains: ['common'],
  activities: ['crypto', 'db', 'chains', 'common'],
  // Plus activities/types.ts, as types: the zone below.
  workflows: ['common'],
  researcher: BELOW_PROCESSES,
  audit: BELOW_PROCESSES,
  api: BELOW_PROCESSES,
  workers: BELOW_PROCESSES,
  algorithms: ['activities', 'crypto', 'chains', 'common'],
  provision: ['algorithms', 'activities', 'crypto', 'chains', 'common'],
  demo: ['researcher', 'audit', 'api', 'workers', 'provision', 'algorithms', 'examples', ...BELOW_PROCESSES],
  cli: ['demo', 'researcher', 'audit', 'api', 'workers', 'provision', 'algorithms', 'examples', ...BELOW_PROCESSES],
  scripts: ['examples', 'common'],
  bin: ['cli'],
};
const ROOMS = [...Object.keys(MAY_IMPORT), 'examples'];
const RULE = 'DESIGN.md "Direction of imports"';

// Refusals with a rule of their own, told apart from the plain direction.
const OWN_RULES = [
  { from: 'cli', message: `${RULE}: nothing imports cli/ (the command is the top; only bin/ and tests start it).` },
  { from: 'demo', message: `${RULE}: only cli/ and tests import demo/ (the one-machine federation is no part of a deployment).` },
];

const zones = Object.entries(MAY_IMPORT).flatMap(([room, allowed]) => {
  const refused = ROOMS.filter((other) => other !== room && !allowed.includes(other));
  const own = OWN_RULES.filter((r) => refused.includes(r.from)).map((r) => ({ target: `./${room}`, from: `./${r.from}`, message: r.message }));
  const special = [];
  const other = { api: 'workers', workers: 'api' }[room];
  if (other !== undefined) {
    special.push({
      target: `./${room}`,
      from: `./${other}`,
      message: `${RULE}: api/ never imports workers/, and workers reach the API only over HTTP (activities/api-client.ts). Move what both need to activities/ or common/.`,
    });
  }
  const plain = refused.filter((r) => r !== other && !OWN_RULES.some((own) => own.from === r));
  return [
    ...own,
    ...special,
    ...(plain.length === 0 ? [] : [{
      target: `./${room}`,
      from: plain.map((other) => `./${other}`),
      message: `${RULE}: ${room}/ imports only ${allowed.length === 0 ? 'packages' : allowed.map((a) => `${a}/`).join(', ')}${room === 'workflows' ? ' (and activities/types.ts as types)' : ''}. Move the code to the room that may hold it.`,
    }]),
  ];
});
// Workflows see activities only through their types (the call goes through proxyActivities).
const workflowZone = zones.find((z) => z.target === './workflows' && Array.isArray(z.from));
if (workflowZone && Array.isArray(workflowZone.from)) workflowZone.from = workflowZone.from.filter((f) => f !== './activities');
zones.push({
  target: './workflows',
  from: './activities',
  except: ['./types.ts'],
  message: `${RULE}: workflows never import activities' implementations, only activities/types.ts as types; call an activity through proxyActivities (workflows/site-activity-stubs.ts).`,
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', 'db/migrations/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.ts', '**/*.js'],
    ignores: TEST_FILES,
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js', '.cjs'] } } },
    rules: { 'import/no-restricted-paths': ['error', { basePath: ROOT, zones }] },
  },
  {
    // Workflows run in Temporal's deterministic sandbox: no Node built-ins, no I/O libraries.
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'path', 'crypto', 'os', 'child_process'], message: 'Workflows do no I/O.' },
          { group: ['dockerode', 'jose'], message: 'Workflows never import crypto, db, docker or activity implementations.' },
        ],
      }],
    },
  },
);
