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
