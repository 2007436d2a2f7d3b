//! Durable file-system primitives shared by the spool and the import folder: fsync a directory, create directories durably.
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so a rename or create inside it survives power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a file's data (a copy or report written with plain writes) before it is relied on. */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * After `mkdir -p dir` created levels from `firstCreated` down to `dir`, fsyncs the parent of each
 * new level so every new directory entry is durable.
 */
export async function fsyncNewDirs(dir: string, firstCreated: string): Promise<void> {
  let d = dir;
  while (d.length >= firstCreated.length) {
    await fsyncDir(dirname(d));
    d = dirname(d);
  }
}

/** Creates `dir` (mode 0750) and, when it was new, makes its entry (and new parents) durable. */
export async function ensureDirDurable(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o750 });
  if (created !== undefined) {
    await fsyncNewDirs(dir, created);
  }
}
