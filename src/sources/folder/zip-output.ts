//! Where a zip's entries are written: inside the destination only, never over anything, never through a link.
// Split from unzip.ts (which reads and screens the archive): this half owns the output tree.
import { constants } from 'node:fs';
import { lstat, mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, sep } from 'node:path';

export interface Target {
  readonly rel: string;
  readonly abs: string;
  readonly fh: FileHandle;
}

/** What extractEntries carries from entry to entry while creating files. */
export interface Layout {
  readonly base: string;
  /** Directories known to be real directories below base (not links), so each is checked once. */
  readonly dirs: Set<string>;
  /** Next duplicate number to try per sanitised name. */
  readonly nextSuffix: Map<string, number>;
  readonly created: string[];
}

/**
 * Creates the output file (never overwriting: a taken name gets ` (2)`, ` (3)`… before the
 * extension) and its parent directories. Returns a skip reason for names the file system refuses.
 */
export async function createTarget(layout: Layout, parts: readonly string[]): Promise<Target | string> {
  const dirParts = parts.slice(0, -1);
  const leaf = parts[parts.length - 1] ?? '';
  try {
    const parentReason = await ensureDirs(layout, dirParts);
    if (parentReason !== null) {
      return parentReason;
    }
  } catch (err) {
    if (codeOf(err) === 'ENAMETOOLONG') {
      return 'file name too long';
    }
    throw err;
  }
  const parent = join(layout.base, ...dirParts);
  const key = parts.join('/');
  const ext = extname(leaf);
  const stem = leaf.slice(0, leaf.length - ext.length);
  for (let n = layout.nextSuffix.get(key) ?? 1; ; n++) {
    const file = n === 1 ? leaf : `${stem} (${String(n)})${ext}`;
    const abs = join(parent, file);
    if (!within(layout.base, abs)) {
      return 'path escapes the archive';
    }
    try {
      // O_EXCL: never overwrite (an earlier entry or anything already there); O_NOFOLLOW: never write through a link.
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      const fh = await open(abs, flags, 0o640);
      layout.created.push(abs);
      layout.nextSuffix.set(key, n + 1);
      return { rel: [...dirParts, file].join('/'), abs, fh };
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EEXIST') {
        continue;
      }
      if (code === 'ENAMETOOLONG') {
        return 'file name too long';
      }
      throw err;
    }
  }
}

/**
 * Creates base/dirParts one level at a time, checking with lstat that each level is a directory and
 * not a link: `mkdir -p` would follow a link already sitting in destDir and write outside it.
 */
async function ensureDirs(layout: Layout, dirParts: readonly string[]): Promise<string | null> {
  let dir = layout.base;
  for (const part of dirParts) {
    dir = join(dir, part);
    if (layout.dirs.has(dir)) {
      continue;
    }
    try {
      await mkdir(dir, { mode: 0o750 });
      layout.created.push(dir);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') {
        throw err;
      }
    }
    if (!(await lstat(dir)).isDirectory()) {
      return 'path conflicts with another entry';
    }
    layout.dirs.add(dir);
  }
  return null;
}

/** True when `p` is `base` or below it; path.relative, not a string prefix (`/a/bc` is not in `/a/b`). */
function within(base: string, p: string): boolean {
  const r = relative(base, p);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** Removes what an extraction created, deepest first (on a refused archive or an error). */
export async function removeCreated(created: string[]): Promise<void> {
  for (const p of created.reverse()) {
    try {
      await rm(p, { recursive: true, force: true });
    } catch {
      // Best effort: the error that made us clean up is the one worth reporting, not this one.
    }
  }
}

export function codeOf(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}
