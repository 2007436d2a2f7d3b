//! Lists the files of one drop with their size and mtime: the input to the stability check.
// lstat only: a symlink is never followed out of the import folder (and never into a folder, which
// could loop); FIFOs and devices are listed as problems so nobody ever opens them.
import type { Dirent } from 'node:fs';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { isOsClutter } from './names.ts';

export interface ScannedFile {
  /** '/'-separated path inside the drop ('' for a drop that is a single loose file). */
  readonly rel: string;
  readonly abs: string;
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
async function followLink(abs: string, realRoot: string): Promise<{ size: number; mtimeMs: number } | { problem: string }> {
  let target: string;
  try {
    target = await realpath(abs);
  } catch {
    return { problem: 'symbolic link to nothing (dangling)' };
  }
  const r = relative(realRoot, target);
  if (r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r)) {return { problem: 'symbolic link leads outside the import folder; not followed' };}
  const st = await stat(target);
  if (!st.isFile()) {return { problem: 'symbolic link to a folder or special file; not followed' };}
  return { size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
}

/** Describes one entry; `abs` is on disk, `rel` its drop-relative name. */
async function describe(abs: string, rel: string, name: string, o: ScanOptions): Promise<ScannedFile> {
  const st = await lstat(abs);
  if (st.isSymbolicLink()) {
    const t = await followLink(abs, o.realRoot);
    return 'problem' in t ? { rel, abs, size: 0, mtimeMs: Math.trunc(st.mtimeMs), problem: t.problem } : { rel, abs, ...t };
  }
  const base = { rel, abs, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
  if (!st.isFile()) {return { ...base, problem: 'not a regular file (device, FIFO or socket); not read' };}
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
  const dirs: string[] = [''];
  const pendingStats: Promise<void>[] = [];
  const stats = async (abs: string, rel: string, entryName: string): Promise<void> => {
    try {
      files.push(await describe(abs, rel, entryName, o));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {throw err;}
    }
  };
  while (dirs.length) {
    const relDir = dirs.pop() ?? '';
    let dir;
    try {
      dir = await opendir(join(top, relDir), { bufferSize: 256 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && relDir) {continue;}
      throw err;
    }
    for await (const d of dir as AsyncIterable<Dirent>) {
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      if (inProgress === null && o.isInProgress(d.name)) {inProgress = `${name}/${rel}`;}
      if (d.isDirectory()) {
        if (!isOsClutter(d.name, true)) {dirs.push(rel);}
        continue;
      }
      if (!relDir && o.marker !== null && d.name === o.marker) {
        marker = true;
        continue;
      }
      pendingStats.push(stats(join(top, relDir, d.name), rel, d.name));
      if (pendingStats.length >= limit) {await Promise.all(pendingStats.splice(0));}
    }
  }
  await Promise.all(pendingStats);
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  let bytes = 0;
  for (const f of files) {bytes += f.size;}
  return { files, inProgress, marker, bytes };
}

/** Converts a drop-relative path to the platform's separators. */
export const toNative = (rel: string): string => rel.split('/').join(sep);
