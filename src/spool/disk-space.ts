//! Free-space reservations: every writer takes its bytes from the space above the watermark before it writes.
// A free-space reading alone is not enough: two writers that both read "50 MB free" each write
// 40 MB, and a reading cached for a second lets a fast sender run far past the watermark. So each
// writer reserves first, against a fresh statfs minus what the other writers hold but have not yet
// written, and grows its reservation as it goes (a C-STORE does not say how big it is). The bytes
// below the watermark are left to what cannot reserve: SQLite's rows and WAL, and the logs.
import { statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Bytes a reservation asks for at least when it grows (fewer statfs calls for a streaming writer). */
const STEP_BYTES = 256 * 1024;

import type { SpaceReading, SpaceReservation } from '../contracts/intake.ts';

export type { SpaceReading, SpaceReservation } from '../contracts/intake.ts';

export interface DiskSpace {
  /** The watermark: free bytes that no reservation may take. */
  readonly minFreeBytes: number;
  /**
   * Reserves `bytes` on the file system holding `dir` (or its nearest existing parent), or null
   * when that would leave less than the watermark free. reserve(dir, 0) is the admission check.
   */
  reserve(dir: string, bytes: number): SpaceReservation | null;
  reading(dir: string): SpaceReading;
}

export interface DiskSpaceOptions {
  readonly minFreeBytes: number;
  /** Test seam: free bytes of the file system holding `dir` (default statfs). */
  readonly freeBytes?: ((dir: string) => number) | undefined;
}

function statfsReading(dir: string): { free: number; total: number } {
  const s = statfsSync(dir);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

export function createDiskSpace(o: DiskSpaceOptions): DiskSpace {
  /** Reserved-but-not-written bytes per file system (st_dev). */
  const outstanding = new Map<number, number>();
  const devices = new Map<string, { dev: number; existing: string }>();

  /** The device and nearest existing directory of `dir`; cached, since directories do not move between mounts. */
  function locate(dir: string): { dev: number; existing: string } {
    const hit = devices.get(dir);
    if (hit) {
      return hit;
    }
    let d = dir;
    for (;;) {
      try {
        const found = { dev: statSync(d).dev, existing: d };
        // Only a directory that exists is remembered: one created later may be a mount point.
        if (d === dir) {
          devices.set(dir, found);
        }
        return found;
      } catch (err) {
        const parent = dirname(d);
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === d) {
          throw err;
        }
        d = parent;
      }
    }
  }

  function measure(dir: string): { dev: number; free: number; total: number } {
    const { dev, existing } = locate(dir);
    if (o.freeBytes) {
      return { dev, free: o.freeBytes(existing), total: Infinity };
    }
    return { dev, ...statfsReading(existing) };
  }

  const add = (dev: number, n: number): void => {
    outstanding.set(dev, Math.max(0, (outstanding.get(dev) ?? 0) + n));
  };

  /** Grants `n` bytes on `dev` if the fresh reading allows it. */
  function grant(dir: string, n: number): { dev: number } | null {
    const m = measure(dir);
    if (m.free - (outstanding.get(m.dev) ?? 0) - n < o.minFreeBytes) {
      return null;
    }
    add(m.dev, n);
    return { dev: m.dev };
  }

  return {
    minFreeBytes: o.minFreeBytes,
    reserve(dir, bytes) {
      const first = grant(dir, bytes);
      if (!first) {
        return null;
      }
      const dev = first.dev;
      let granted = bytes;
      let taken = bytes;
      let landed = 0;
      return {
        take(n) {
          if (taken + n > granted) {
            const need = taken + n - granted;
            // Ask for a step ahead, or failing that just what is needed now.
            const more = need < STEP_BYTES && grant(dir, STEP_BYTES) ? STEP_BYTES : grant(dir, need) ? need : 0;
            if (more === 0) {
              return false;
            }
            granted += more;
          }
          taken += n;
          return true;
        },
        landed(n) {
          const before = landed;
          landed = Math.min(granted, landed + n);
          add(dev, -(landed - before));
        },
        release() {
          add(dev, -(granted - landed));
          granted = landed;
          taken = Math.min(taken, landed);
        },
        get taken() {
          return taken;
        },
      };
    },
    reading(dir) {
      const m = measure(dir);
      const reservedBytes = outstanding.get(m.dev) ?? 0;
      return {
        freeBytes: m.free,
        reservedBytes,
        totalBytes: m.total,
        availableBytes: m.free - reservedBytes - o.minFreeBytes,
        minFreeBytes: o.minFreeBytes,
      };
    },
  };
}

/** Error codes of a full disk or quota, from Node and from SQLite (SHMSIZE: the -shm file cannot grow). */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE']);

/** True for the errors a full disk (or quota) produces, also when wrapped as another error's cause. */
export function isDiskFull(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  if (DISK_FULL_CODES.has((err as NodeJS.ErrnoException).code ?? '')) {
    return true;
  }
  return err.cause !== undefined && err.cause !== err && isDiskFull(err.cause);
}
