//! Back-pressure: refuse new work when the data disk is nearly full or too much is undelivered.
import { statfsSync } from 'node:fs';
import { ErrorCode } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { Admission } from './types.ts';

export interface AdmissionDeps {
  readonly dataDir: string;
  readonly clock: Clock;
  /** Free bytes below which new work is refused (reason 2 / 0xA700). */
  readonly minFreeBytes: number;
  /** Undelivered instances above which new work is refused. */
  readonly maxPendingInstances: number;
  readonly pendingCount: () => number;
  /** How long a disk/backlog reading is reused; keeps statfs and COUNT off the per-PDU path. */
  readonly cacheMs?: number;
  /** Test seam: free bytes of the data directory's file system. */
  readonly freeBytes?: (dir: string) => number;
}

export interface AdmissionControl {
  check(): Admission;
  /** Latest readings, for /readyz and /metrics. */
  readings(): { freeBytes: number; pendingInstances: number };
}

const statfsFree = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

export function createAdmission(d: AdmissionDeps): AdmissionControl {
  const cacheMs = d.cacheMs ?? 1000;
  const free = d.freeBytes ?? statfsFree;
  let at = -Infinity;
  let freeBytes = 0;
  let pending = 0;
  function refresh(): void {
    const now = d.clock.now();
    if (now - at < cacheMs) {return;}
    at = now;
    freeBytes = free(d.dataDir);
    pending = d.pendingCount();
  }
  return {
    check() {
      refresh();
      if (freeBytes < d.minFreeBytes) {
        return { ok: false, code: ErrorCode.SPOOL_FULL, message: `Free space ${String(freeBytes)} B is below the ${String(d.minFreeBytes)} B watermark.` };
      }
      if (pending > d.maxPendingInstances) {
        return { ok: false, code: ErrorCode.QUEUE_BACKLOG, message: `${String(pending)} undelivered instances exceed the limit of ${String(d.maxPendingInstances)}.` };
      }
      return { ok: true };
    },
    readings() {
      refresh();
      return { freeBytes, pendingInstances: pending };
    },
  };
}
