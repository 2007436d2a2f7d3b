//! Durable file-system primitives: fsync a directory, create directories durably, atomic rename.
import { constants } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
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

/** Creates `dir` (owner-only) and, when it was new, fsyncs its parent so the entry is durable. */
export async function ensureDirDurable(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o750 });
  if (created !== undefined) {
    // mkdir -p may have created several levels; sync each new level's parent.
    let d = dir;
    while (d.length >= created.length) {
      await fsyncDir(dirname(d));
      d = dirname(d);
    }
  }
}

/** Renames `from` to `to` (same file system) and fsyncs the target directory. */
export async function renameDurable(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
}
