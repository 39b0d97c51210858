/** The shape of one `parley site <verb>`, and what the verbs share: the --config option. */
import { resolve } from 'node:path';
import type { CommandIo } from './command.ts';

export interface SiteVerb {
  verb: string;
  /** One line, for `parley site --help`. */
  summary: string;
  usage: string;
  /** Gets the whole argv, the verb first. Returns the exit code. */
  run(argv: string[], io: CommandIo): Promise<number>;
}

/** The site configuration file: --config, else ./site.yaml. */
export function configPath(given: string | undefined): string {
  return resolve(given ?? 'site.yaml');
}

export const CONFIG_OPTION = { config: { type: 'string' } } as const;
