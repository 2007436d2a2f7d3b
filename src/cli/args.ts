//! Input-path checks shared by the commands that read files: a missing input is "not found" (66).
import { stat } from 'node:fs/promises';
import { CommandError } from './command.ts';
import { ExitCode } from './exit-codes.ts';

/** Throws CommandError(NOINPUT) naming `path` when it does not exist. */
export async function requireInput(path: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    throw new CommandError(ExitCode.NOINPUT, `${path}: no such file or folder.`);
  }
}

/**
 * The series batch a command names: a numeric id, or a SeriesInstanceUID (its latest batch).
 * Throws CommandError(NOINPUT) when the gateway does not know it.
 */
export async function seriesArg(
  routes: { latestBatchOf(seriesUid: string): Promise<number | undefined> },
  arg: string,
): Promise<number> {
  const id = /^\d+$/.test(arg) ? Number(arg) : await routes.latestBatchOf(arg);
  if (id === undefined) {
    throw new CommandError(ExitCode.NOINPUT, `No series ${arg} is known to the gateway.`);
  }
  return id;
}
