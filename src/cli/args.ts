//! Positional-argument checks shared by the commands that take files: usage (exit 2), missing input (66).
import { stat } from 'node:fs/promises';
import { ExitCode } from './exit-codes.ts';

/**
 * The `count` positional arguments, or null after printing `usage` (wrong count) or naming the
 * first argument when it does not exist (the input file or folder).
 */
export async function inputArgs(args: readonly string[], count: number, usage: string): Promise<string[] | null> {
  if (args.length !== count || args.some((a) => a === '')) {
    console.error(usage);
    process.exitCode = ExitCode.USAGE;
    return null;
  }
  const input = args[0] ?? '';
  try {
    await stat(input);
  } catch {
    console.error(`${input}: no such file or folder.`);
    process.exitCode = ExitCode.NOINPUT;
    return null;
  }
  return [...args];
}

/**
 * The series batch a command names: a numeric id, or a SeriesInstanceUID (its latest batch). Null
 * after printing that it is unknown (exit 66).
 */
export function seriesArg(routes: { latestBatchOf(seriesUid: string): number | undefined }, arg: string): number | null {
  const id = /^\d+$/.test(arg) ? Number(arg) : routes.latestBatchOf(arg);
  if (id !== undefined) {return id;}
  console.error(`No series ${arg} is known to the gateway.`);
  process.exitCode = ExitCode.NOINPUT;
  return null;
}
