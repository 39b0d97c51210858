/**
 * Checks each container step's args against the args schema its image carries (the label
 * `parley algorithm build` sets from the manifest), asking the local Docker engine. Images the
 * engine does not have, or that carry no schema, are left unchecked and named, never guessed at.
 */
import type Docker from 'dockerode';
import { argsSchemaOfLabels, argsSchemaProblem, checkArgs } from '../../algorithms/args-schema.ts';
import { isContainerStepFile, type ChainFile, type ChainProblem } from '../../chains/index.ts';

export interface ChainArgsCheck {
  /** Problems at `steps[i].args…`, ready to be placed in the file's text. */
  problems: ChainProblem[];
  /** Images whose args were not checked, and why. */
  unchecked: Array<{ step: string; image: string; reason: string }>;
}

/** The engine's name for a chain's image: the image id when it is pinned by digest, else the name. */
function engineRef(image: string): string {
  const at = image.indexOf('@');
  return at < 0 ? image : image.slice(at + 1);
}

/** Checks `file`'s steps' args; throws only when the engine answers with anything but "no such image". */
export async function checkChainArgs(file: ChainFile, docker: Docker): Promise<ChainArgsCheck> {
  const problems: ChainProblem[] = [];
  const unchecked: ChainArgsCheck['unchecked'] = [];
  for (const [i, step] of file.steps.entries()) {
    if (!isContainerStepFile(step)) continue;
    let labels: Record<string, string> | undefined;
    try {
      labels = (await docker.getImage(engineRef(step.image)).inspect()).Config?.Labels ?? undefined;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      unchecked.push({ step: step.id, image: step.image, reason: 'not on this Docker engine' });
      continue;
    }
    let schema: unknown;
    try {
      schema = argsSchemaOfLabels(labels);
    } catch (err) {
      problems.push({ path: `steps[${i}].image`, message: (err as Error).message });
      continue;
    }
    if (schema === undefined) {
      unchecked.push({ step: step.id, image: step.image, reason: 'its image declares no args schema' });
      continue;
    }
    const bad = argsSchemaProblem(schema);
    if (bad) {
      problems.push({ path: `steps[${i}].image`, message: `the image's args schema ${bad}; rebuild it with \`parley algorithm build\`` });
      continue;
    }
    for (const p of checkArgs(schema, step.args ?? {})) {
      problems.push({ path: p.path === '' ? `steps[${i}].args` : `steps[${i}].args.${p.path}`, message: `${p.message} (the args schema of ${step.image})` });
    }
  }
  return { problems, unchecked };
}
