/**
 * What the chain commands share: reading a chain file and printing its problems as
 * `file:line:column: path: message` (the form editors and CI annotate), and pinning images over
 * the local Docker engine. Not a command itself.
 */
import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { locateInChainFile, parseChainFile, repositoryOf } from '../../chains/index.ts';
import type { ChainFile, ChainFileProblem, ChainProblem, ResolveImage } from '../../chains/index.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { CommandIo } from './command.ts';

/** One problem line: `file:line:column: path: message` (no path for the file as a whole). */
export function problemLine(fileName: string, problem: ChainFileProblem | ChainProblem): string {
  const where = 'line' in problem ? `${fileName}:${problem.line}:${problem.column}` : fileName;
  return `${where}: ${problem.path ? `${problem.path}: ` : ''}${problem.message}`;
}

/** A chain file, validated, with a way to place later problems (resolveChain's) in its text. */
export interface LoadedChainFile {
  file: ChainFile;
  /** Adds line and column to a problem found after parsing. */
  place(problem: ChainProblem): ChainProblem | ChainFileProblem;
}

/**
 * Reads and validates a chain file. Problems are printed (stderr) and come back as undefined;
 * an unreadable file throws.
 * @throws ParleyError InvalidInput when the file cannot be read.
 */
export async function loadChainFile(fileName: string, io: CommandIo): Promise<LoadedChainFile | undefined> {
  let text: string;
  try {
    text = await readFile(fileName, 'utf8');
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `Cannot read the chain file ${fileName} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Check the path.`, {}, { cause: err });
  }
  const parsed = parseChainFile(text, fileName);
  if (parsed.ok) {
    return {
      file: parsed.file,
      place: (problem) => {
        const at = problem.path.startsWith('steps') || problem.path === 'sites' ? locateInChainFile(text, fileName, problem.path) : undefined;
        return at ? { ...problem, ...at } : problem;
      },
    };
  }
  for (const problem of parsed.problems) io.err(problemLine(fileName, problem));
  io.err(`${parsed.problems.length} problem(s) in ${fileName}. The format is described in chains/chain.schema.json.`);
  return undefined;
}

/**
 * Pins images by asking the local Docker engine (the image id is the digest sites allow).
 * Unknown images resolve to undefined; an engine that does not answer throws.
 */
export function dockerImageResolver(docker: Docker): ResolveImage {
  return async (name) => {
    try {
      const info = await docker.getImage(name).inspect();
      return { name: repositoryOf(name), digest: info.Id };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw new ParleyError(ErrorCode.Prerequisite, `Docker did not answer while pinning ${name} (${(err as Error).message}). Is the engine running? Or pin each image in the chain as name@sha256:<digest>.`, { image: name }, { cause: err });
    }
  };
}
