//! Back-pressure: refuse new work when the data disk is nearly full or too much is undelivered.
import { ErrorCode } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { DiskSpace } from './disk-space.ts';
import type { Admission } from './types.ts';

export interface AdmissionDeps {
  readonly dataDir: string;
  readonly clock: Clock;
  /** Free space and reservations; its watermark refuses new work (reason 2 / 0xA700). */
  readonly space: DiskSpace;
  /** Undelivered instances above which new work is refused. */
  readonly maxPendingInstances: number;
  readonly pendingCount: () => number;
  /** How long a backlog count is reused; keeps COUNT off the per-association path. */
  readonly cacheMs?: number;
}

export interface AdmissionControl {
  check(): Admission;
  /** Latest readings, for /readyz and /metrics. */
  readings(): { freeBytes: number; reservedBytes: number; pendingInstances: number };
}

export function createAdmission(d: AdmissionDeps): AdmissionControl {
  const cacheMs = d.cacheMs ?? 1000;
  let at = -Infinity;
  let pending = 0;
  function backlog(): number {
    const now = d.clock.now();
    if (now - at >= cacheMs) {
      at = now;
      pending = d.pendingCount();
    }
    return pending;
  }
  return {
    check() {
      // The disk is read afresh every time (statfs costs microseconds): a reading reused for a
      // second let a fast sender write far past the watermark. Reservations of writers in flight count.
      const r = d.space.reading(d.dataDir);
      if (r.availableBytes < 0) {
        const held = r.reservedBytes > 0 ? ` (${String(r.reservedBytes)} B of it reserved by writes in progress)` : '';
        return { ok: false, code: ErrorCode.SPOOL_FULL, message: `Free space ${String(r.freeBytes)} B${held} is below the ${String(d.space.minFreeBytes)} B watermark.` };
      }
      const n = backlog();
      if (n > d.maxPendingInstances) {
        return { ok: false, code: ErrorCode.QUEUE_BACKLOG, message: `${String(n)} undelivered instances exceed the limit of ${String(d.maxPendingInstances)}.` };
      }
      return { ok: true };
    },
    readings() {
      const r = d.space.reading(d.dataDir);
      return { freeBytes: r.freeBytes, reservedBytes: r.reservedBytes, pendingInstances: backlog() };
    },
  };
}
