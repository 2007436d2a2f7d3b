//! Moving one file out of the import folder: a rename, or across file systems a reserved, fsynced copy.
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { SpaceReservation } from '../../contracts/component.ts';
import { fsyncDir, fsyncFile } from '../../durable-fs.ts';

export async function exists(p: string | Buffer): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Moves `src` to `dst`. Across file systems (import folder on a share, processed on local disk)
 * the copy is fsynced before the original goes, and its space is reserved first (`reserve`).
 * Returns false when `src` was already gone.
 */
export async function moveFile(
  src: string | Buffer,
  dst: string,
  durable: boolean,
  madeDirs?: Set<string>,
  reserve?: (dir: string, bytes: number) => SpaceReservation | null,
): Promise<boolean> {
  // 40,000 files in a few folders: one mkdir per folder, not per file.
  const dir = dirname(dst);
  if (!madeDirs?.has(dir)) {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    madeDirs?.add(dir);
  }
  try {
    await rename(src, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !(await exists(src))) {
      return false;
    }
    if (code !== 'EXDEV') {
      throw err;
    }
    const size = (await stat(src)).size;
    const space = reserve ? reserve(dirname(dst), size) : null;
    if (reserve && !space) {
      throw new DaemonError(
        ErrorCode.SPOOL_FULL,
        `Not enough free space above the watermark to copy a ${String(size)} B file out of the import folder.`,
        { stage: 'receiving', retryable: true },
      );
    }
    const partial = `${dst}.xg-partial`;
    try {
      await copyFile(src, partial, constants.COPYFILE_FICLONE);
      if (durable) {
        await fsyncFile(partial);
      }
      await rename(partial, dst);
    } catch (copyErr) {
      // A half copy is nobody's: it would only hold the disk until the next attempt.
      await rm(partial, { force: true });
      throw copyErr;
    } finally {
      space?.release();
    }
    if (durable) {
      await fsyncDir(dirname(dst));
    }
    await unlink(src);
    return true;
  }
  if (durable) {
    await fsyncDir(dirname(dst));
  }
  return true;
}
