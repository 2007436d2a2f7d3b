//! Decides when a drop is complete: nothing added, removed or changed for `stableMs`.
// Counting files (DASHER) misses a file that is still growing; a per-file watcher event
// (awaitWriteFinish) says nothing about the folder. We compare whole scans instead: a digest of
// every (path, size, mtime) per scan, so memory per waiting drop stays constant however big it is.
import { createHash } from 'node:crypto';
import type { DropScan } from './scan.ts';

export interface Waiting {
  readonly name: string;
  readonly kind: 'folder' | 'file';
  readonly firstSeenAt: number;
  /** When the scan last differed from the one before. */
  readonly lastChangeAt: number;
  readonly scans: number;
  readonly files: number;
  readonly bytes: number;
  /** Why it is not ready yet, in words an operator can act on (no file names: they may identify patients). */
  readonly waitingFor: string;
}

export interface Verdict {
  readonly ready: boolean;
  readonly waiting: Waiting;
}

interface Tracked {
  digest: string;
  firstSeenAt: number;
  lastChangeAt: number;
  scans: number;
}

function digestOf(scan: DropScan): string {
  const h = createHash('sha1');
  for (const f of scan.files) {
    h.update(`${f.rel}\0${String(f.size)}\0${String(f.mtimeMs)}\0`);
  }
  h.update(scan.marker ? 'marker' : '');
  return h.digest('hex');
}

export interface Settler {
  /** Records a scan of `name` taken at `now` and says whether the drop may be read. */
  observe(name: string, kind: 'folder' | 'file', scan: DropScan, now: number): Verdict;
  /** Starts the stability clock again (a file vanished mid-read, or the drop changed while read). */
  restart(name: string, now: number): void;
  forget(name: string): void;
  has(name: string): boolean;
  names(): string[];
}

export function createSettler(stableMs: number): Settler {
  const tracked = new Map<string, Tracked>();
  return {
    observe(name, kind, scan, now) {
      const digest = digestOf(scan);
      let t = tracked.get(name);
      if (!t) {
        t = { digest, firstSeenAt: now, lastChangeAt: now, scans: 0 };
        tracked.set(name, t);
      } else if (t.digest !== digest) {
        t.digest = digest;
        t.lastChangeAt = now;
      }
      t.scans++;
      const quietFor = now - t.lastChangeAt;
      let waitingFor = '';
      if (scan.inProgress !== null) {
        waitingFor = 'a file or folder with an in-progress name (e.g. *.part) is present';
      } else if (!scan.files.length) {
        waitingFor = 'the drop is empty';
      } else if (!scan.marker && (quietFor < stableMs || t.scans < 2)) {
        waitingFor = `unchanged for ${String(Math.round(quietFor / 1000))} s of ${String(Math.round(stableMs / 1000))} s`;
      }
      return {
        ready: waitingFor === '',
        waiting: {
          name,
          kind,
          firstSeenAt: t.firstSeenAt,
          lastChangeAt: t.lastChangeAt,
          scans: t.scans,
          files: scan.files.length,
          bytes: scan.bytes,
          waitingFor,
        },
      };
    },
    restart(name, now) {
      const t = tracked.get(name);
      if (t) {
        t.lastChangeAt = now;
        t.digest = '';
        t.scans = 0;
      }
    },
    forget: (name) => {
      tracked.delete(name);
    },
    has: (name) => tracked.has(name),
    names: () => [...tracked.keys()],
  };
}
