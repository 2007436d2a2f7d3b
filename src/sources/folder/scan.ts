//! Lists the files of one drop with their size and mtime: the input to the stability check.
// lstat only: a symlink is never followed out of the import folder (and never into a folder, which
// could loop); FIFOs and devices are listed as problems so nobody ever opens them.
import { isUtf8 } from 'node:buffer';
import type { Dirent } from 'node:fs';
import { lstat, opendir, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { escapeName, isOsClutter } from './names.ts';

export interface ScannedFile {
  /** '/'-separated path inside the drop ('' for a drop that is a single loose file). */
  readonly rel: string;
  readonly abs: string;
  /**
   * The real path, when a name in it is not valid UTF-8: `rel` and `abs` then carry those names
   * escaped (names.ts escapeName) and only `raw` opens the file.
   */
  readonly raw?: Buffer;
  readonly size: number;
  /** Whole milliseconds: what the ledger stores and compares. */
  readonly mtimeMs: number;
  /** Set when the entry must not be read (dangling or escaping symlink, FIFO, …): it is rejected. */
  readonly problem?: string;
  /** OS clutter (.DS_Store, Thumbs.db): neither ingested nor reported. */
  readonly clutter?: boolean;
}

export interface DropScan {
  readonly files: ScannedFile[];
  /** First path whose name says a copy is still in progress, or null. */
  readonly inProgress: string | null;
  /** True when the ready marker sits at the top of the drop. */
  readonly marker: boolean;
  readonly bytes: number;
}

export interface ScanOptions {
  /** The import folder with symlinks resolved: links must resolve inside it. */
  readonly realRoot: string;
  readonly isInProgress: (name: string) => boolean;
  readonly marker: string | null;
  /** stat calls in flight at once. */
  readonly concurrency?: number;
}

/** Resolves what a symlink points to, or why it is not read. */
async function followLink(
  abs: string,
  realRoot: string,
): Promise<{ size: number; mtimeMs: number } | { problem: string }> {
  let target: string;
  try {
    target = await realpath(abs);
  } catch {
    return { problem: 'symbolic link to nothing (dangling)' };
  }
  const r = relative(realRoot, target);
  if (r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) {
    return { problem: 'symbolic link leads outside the import folder; not followed' };
  }
  const st = await stat(target);
  if (!st.isFile()) {
    return { problem: 'symbolic link to a folder or special file; not followed' };
  }
  return { size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
}

/** Describes one entry; `abs` (or `raw`, when set) is on disk, `rel` its drop-relative name. */
async function describe(abs: string, rel: string, name: string, o: ScanOptions, raw?: Buffer): Promise<ScannedFile> {
  const st = await lstat(raw ?? abs);
  if (st.isSymbolicLink()) {
    if (raw) {
      return {
        rel,
        abs,
        raw,
        size: 0,
        mtimeMs: Math.trunc(st.mtimeMs),
        problem: 'symbolic link whose name is not valid UTF-8; not followed',
      };
    }
    const t = await followLink(abs, o.realRoot);
    return 'problem' in t
      ? { rel, abs, size: 0, mtimeMs: Math.trunc(st.mtimeMs), problem: t.problem }
      : { rel, abs, ...t };
  }
  const base = { rel, abs, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), ...(raw ? { raw } : {}) };
  if (!st.isFile()) {
    return { ...base, problem: 'not a regular file (device, FIFO or socket); not read' };
  }
  return isOsClutter(name, false) ? { ...base, clutter: true } : base;
}

/**
 * Scans a drop: `name` is a top-level folder (walked to any depth) or a loose file under `root`.
 * Throws ENOENT when the drop itself vanished; files vanishing during the walk are just not listed
 * (the next scan sees a different list, which resets the stability clock).
 */
export async function scanDrop(root: string, name: string, o: ScanOptions): Promise<DropScan> {
  const top = join(root, name);
  const topStat = await lstat(top);
  const files: ScannedFile[] = [];
  let inProgress: string | null = o.isInProgress(name) ? name : null;
  if (!topStat.isDirectory()) {
    files.push(await describe(top, '', name, o));
    return { files, inProgress, marker: false, bytes: files[0]?.size ?? 0 };
  }
  let marker = false;
  const limit = o.concurrency ?? 16;
  // `raw`: the directory's real path when a name in it is not valid UTF-8 (listed as bytes then).
  const dirs: { rel: string; raw: Buffer | null }[] = [{ rel: '', raw: null }];
  const pendingStats: Promise<void>[] = [];
  const stats = async (abs: string, rel: string, entryName: string, raw?: Buffer): Promise<void> => {
    try {
      files.push(await describe(abs, rel, entryName, o, raw));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err;
      }
    }
  };
  /** One entry of the walk, by its (possibly escaped) name. */
  const visit = async (relDir: string, entryName: string, isDir: boolean, raw?: Buffer): Promise<void> => {
    const rel = relDir ? `${relDir}/${entryName}` : entryName;
    if (inProgress === null && o.isInProgress(entryName)) {
      inProgress = `${name}/${rel}`;
    }
    if (isDir) {
      if (!isOsClutter(entryName, true)) {
        dirs.push({ rel, raw: raw ?? null });
      }
      return;
    }
    if (!relDir && o.marker !== null && entryName === o.marker) {
      marker = true;
      return;
    }
    pendingStats.push(stats(join(top, relDir, entryName), rel, entryName, raw));
    if (pendingStats.length >= limit) {
      await Promise.all(pendingStats.splice(0));
    }
  };
  /**
   * Lists a directory as bytes: the names Node cannot decode (it would hand us U+FFFD, which opens
   * nothing, and the drop would look empty for ever) are read through their real bytes.
   */
  const visitRaw = async (dirRaw: Buffer, relDir: string, undecodedOnly: boolean): Promise<void> => {
    for (const e of await readdir(dirRaw, { withFileTypes: true, encoding: 'buffer' })) {
      const valid = isUtf8(e.name);
      const text = valid ? e.name.toString('utf8') : escapeName(e.name);
      if (undecodedOnly && valid && !text.includes('\uFFFD')) {
        continue;
      }
      const rawPath = Buffer.concat([dirRaw, Buffer.from(sep), e.name]);
      await visit(relDir, text, e.isDirectory(), valid && undecodedOnly ? undefined : rawPath);
    }
  };
  while (dirs.length) {
    const { rel: relDir, raw } = dirs.pop() ?? { rel: '', raw: null };
    if (raw) {
      await visitRaw(raw, relDir, false).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw err;
        }
      });
      continue;
    }
    let dir;
    try {
      dir = await opendir(join(top, relDir), { bufferSize: 256 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && relDir) {
        continue;
      }
      throw err;
    }
    let undecoded = false;
    for await (const d of dir as AsyncIterable<Dirent>) {
      if (d.name.includes('\uFFFD')) {
        undecoded = true; // read again below, as bytes
        continue;
      }
      await visit(relDir, d.name, d.isDirectory());
    }
    if (undecoded) {
      await visitRaw(Buffer.from(join(top, relDir)), relDir, true);
    }
  }
  await Promise.all(pendingStats);
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  let bytes = 0;
  for (const f of files) {
    bytes += f.size;
  }
  return { files, inProgress, marker, bytes };
}

/** Converts a drop-relative path to the platform's separators. */
export const toNative = (rel: string): string => rel.split('/').join(sep);
