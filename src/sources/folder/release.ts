//! Releasing a drop once every file is handed off: rejected files out with rejected.json, the rest
//! moved to processedDir or deleted.
// File by file, not one rename of the whole folder: a file copied into the drop after it was read
// is neither moved away unread nor deleted; it stays and becomes the next drop. Every step is
// idempotent so a release interrupted by a crash is simply run again.
import { cp, mkdir, opendir, readdir, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { ErrorCode } from '../../errors.ts';
import type { SpaceReservation } from '../../contracts/component.ts';
import { fsyncDir, fsyncFile } from '../../durable-fs.ts';
import { isOsClutter, unescapeName } from './names.ts';
import { toNative } from './scan.ts';
import { forEachLimit } from './for-each-limit.ts';
import { exists, moveFile } from './move-file.ts';

// Part of what the release offers (its tests move single files with it).
export { moveFile };

export interface RejectedFile {
  readonly rel: string;
  readonly size: number;
  readonly code: string;
  readonly reason: string;
}

export interface ReleaseInput {
  readonly dropId: number;
  readonly dropName: string;
  /** The drop on disk: a folder, or a loose file when `kind` is 'file'. */
  readonly dropAbs: string;
  readonly kind: 'folder' | 'file';
  /** Files handed off (spooled or deliberately ignored): moved to processed, or deleted. */
  readonly handled: readonly string[];
  /** Rejected files; those that exist on disk are moved out (entries inside an archive do not). */
  readonly rejected: readonly RejectedFile[];
  /** 'delete', 'move:<dir>' (the drop's folder or file path under processedDir), or 'keep' (one-shot import: nothing is moved). */
  readonly disposition: string;
  readonly rejectedTo: string | null;
  readonly nonDicom: 'reject' | 'delete';
  readonly importRoot: string;
  readonly at: number;
  /**
   * Takes free space on `dir`'s file system before a file is copied there (a move from a share to
   * the local processed or rejected folder is a copy): null refuses, and the release is retried later.
   */
  readonly reserve?: (dir: string, bytes: number) => SpaceReservation | null;
}

/** Moves or deletes in flight at once: renames on a share are round trips worth overlapping. */
const RELEASE_PARALLEL = 8;

/** A free name for this drop under `dir`: the drop's own name, or one tagged with its id. */
export async function freeName(dir: string, name: string, dropId: number, kind: 'folder' | 'file'): Promise<string> {
  const plain = join(dir, name);
  if (!(await exists(plain))) {
    return plain;
  }
  return join(dir, kind === 'folder' ? `${name}.${String(dropId)}` : `${String(dropId)}.${name}`);
}

/**
 * OS clutter folders (`__MACOSX`, `.Trashes`, …) are never scanned, so no ledger row moves their
 * content: they go (or are deleted) whole, with the drop; otherwise they would stay behind and
 * look like a new drop.
 */
async function releaseClutterDirs(dir: string, moveTo: string | null, rel = ''): Promise<void> {
  let d;
  try {
    d = await opendir(join(dir, rel));
  } catch {
    return;
  }
  const subdirs: string[] = [];
  for await (const e of d) {
    if (e.isDirectory()) {
      subdirs.push(rel ? join(rel, e.name) : e.name);
    }
  }
  for (const sub of subdirs) {
    if (!isOsClutter(basename(sub), true)) {
      await releaseClutterDirs(dir, moveTo, sub);
      continue;
    }
    const src = join(dir, sub);
    if (moveTo === null) {
      await rm(src, { recursive: true, force: true });
      continue;
    }
    const dst = join(moveTo, sub);
    await mkdir(dirname(dst), { recursive: true, mode: 0o750 });
    try {
      await rename(src, dst);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'ENOTEMPTY' && code !== 'EEXIST') {
        throw err;
      }
      await cp(src, dst, { recursive: true, force: true });
      await rm(src, { recursive: true, force: true });
    }
  }
}

/**
 * Removes the empty folders left in a drop, deepest first; a folder that still holds something
 * stays. Names are listed as bytes, so a folder whose name is not valid UTF-8 goes too.
 */
async function pruneEmptyDirs(dir: Buffer): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory()) {
      await pruneEmptyDirs(Buffer.concat([dir, Buffer.from(sep), e.name]));
    }
  }
  await rmdir(dir).catch(() => undefined);
}

interface RejectedReport {
  readonly file: string;
  readonly size: number;
  readonly code: string;
  readonly reason: string;
  readonly action:
    'moved here' | 'deleted (folder.nonDicom: delete)' | 'inside an archive' | 'was already gone' | 'left in place';
}

async function writeReport(dir: string, input: ReleaseInput, files: RejectedReport[]): Promise<void> {
  const body = {
    drop: input.dropName,
    dropId: input.dropId,
    importFolder: input.importRoot,
    releasedAt: new Date(input.at).toISOString(),
    files,
  };
  const tmp = join(dir, '.rejected.json.tmp');
  await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o640 });
  await fsyncFile(tmp);
  await rename(tmp, join(dir, 'rejected.json'));
  await fsyncDir(dir);
}

/**
 * The path to open for `p`: itself, or, when it is not there and holds `%XX` escapes, the bytes of
 * a name that is not valid UTF-8 (scan.ts recorded it escaped; names.ts escapeName).
 */
async function onDiskPath(p: string): Promise<string | Buffer> {
  if (!/%[0-9A-F]{2}/.test(p) || (await exists(p))) {
    return p;
  }
  return unescapeName(p);
}

/** Runs (or re-runs) the release. Throws on a file system error; nothing is lost then. */
export async function releaseDrop(
  input: ReleaseInput,
): Promise<{ moved: number; deleted: number; rejectedMoved: number }> {
  // A loose-file drop has one file on disk (rel ''); any other rel is an entry inside it (an archive).
  const inDrop = (rel: string): string | null =>
    input.kind === 'folder' ? join(input.dropAbs, toNative(rel)) : rel === '' ? input.dropAbs : null;
  const onDisk = async (rel: string): Promise<string | Buffer | null> => {
    const p = inDrop(rel);
    return p === null ? null : onDiskPath(p);
  };
  const report: RejectedReport[] = [];
  let rejectedMoved = 0;
  if (input.rejected.length && input.rejectedTo) {
    await mkdir(input.rejectedTo, { recursive: true, mode: 0o750 });
    for (const r of input.rejected) {
      const src = await onDisk(r.rel);
      const target =
        input.kind === 'file' ? join(input.rejectedTo, input.dropName) : join(input.rejectedTo, toNative(r.rel));
      const base = { file: r.rel || input.dropName, size: r.size, code: r.code, reason: r.reason };
      if (src === null) {
        report.push({ ...base, action: 'inside an archive' });
        continue;
      }
      if (input.disposition === 'keep') {
        report.push({ ...base, action: 'left in place' });
        continue;
      }
      if (!(await exists(src))) {
        // Moved by an earlier, interrupted release; or an entry inside an archive of the drop.
        const deletedByUs = input.nonDicom === 'delete' && r.code === ErrorCode.FOLDER_NOT_DICOM;
        report.push({
          ...base,
          action: (await exists(target))
            ? 'moved here'
            : r.rel.search(/\.zip\//i) >= 0
              ? 'inside an archive'
              : deletedByUs
                ? 'deleted (folder.nonDicom: delete)'
                : 'was already gone',
        });
        continue;
      }
      if (input.nonDicom === 'delete' && r.code === ErrorCode.FOLDER_NOT_DICOM) {
        await unlink(src);
        report.push({ ...base, action: 'deleted (folder.nonDicom: delete)' });
        continue;
      }
      await moveFile(src, target, true, undefined, input.reserve);
      rejectedMoved++;
      report.push({ ...base, action: 'moved here' });
    }
    await writeReport(input.rejectedTo, input, report);
  }
  let moved = 0;
  let deleted = 0;
  const moveTo = input.disposition.startsWith('move:') ? input.disposition.slice('move:'.length) : null;
  if (input.disposition === 'keep') {
    return { moved: 0, deleted: 0, rejectedMoved: 0 };
  }
  const madeDirs = new Set<string>();
  await forEachLimit(input.handled, RELEASE_PARALLEL, async (rel) => {
    const src = await onDisk(rel);
    if (src === null) {
      return;
    }
    if (moveTo === null) {
      await rm(src, { force: true });
      deleted++;
    } else if (
      await moveFile(src, input.kind === 'file' ? moveTo : join(moveTo, toNative(rel)), false, madeDirs, input.reserve)
    ) {
      moved++;
    }
  });
  if (input.kind === 'folder') {
    await releaseClutterDirs(input.dropAbs, moveTo);
    await pruneEmptyDirs(Buffer.from(input.dropAbs));
  }
  return { moved, deleted, rejectedMoved };
}
