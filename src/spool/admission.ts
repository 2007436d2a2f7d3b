//! Back-pressure: refuse new work when the data disk is nearly full or too much is undelivered.
import { ErrorCode } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { DiskSpace } from './disk-space.ts';
import type { Admission } from '../contracts/intake.ts';

export interface AdmissionDeps {
  readonly dataDir: string;
  readonly clock: Clock;
  /** Free space and reservations; its watermark refuses new work (reason 2 / 0xA700). */
  readonly space: DiskSpace;
  /** Undelivered instances above which new work is refused. */
  readonly maxPendingInstances: number;
  readonly pendingCount: () => Promise<number>;
  /** How long a backlog count is reused; keeps COUNT off the per-association path. */
  readonly cacheMs?: number;
}

export interface AdmissionControl {
  /** May new work start (an association, a file of a drop)? Disk (with a margin) and backlog. */
  check(): Promise<Admission>;
  /**
   * The backlog alone: for an instance already received, whose bytes already hold their
   * reservation above the watermark (refusing it for the disk would waste what it took).
   */
  backlog(): Promise<Admission>;
  /** Latest readings, for /readyz and /metrics. */
  readings(): Promise<{ freeBytes: number; reservedBytes: number; pendingInstances: number }>;
}

/**
 * Free space new work needs above the watermark (1/16 of it, between 1 MiB and 64 MiB). Writers
 * stop exactly at the watermark, so without a margin a full spool would still accept associations
 * and answer each of their stores 0xA700; with it the sender is turned away (reason 2) up front.
 */
export function admissionMargin(minFreeBytes: number): number {
  return Math.min(64 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(minFreeBytes / 16)));
}

export function createAdmission(d: AdmissionDeps): AdmissionControl {
  const margin = admissionMargin(d.space.minFreeBytes);
  const cacheMs = d.cacheMs ?? 1000;
  let at = -Infinity;
  let pending: Promise<number> = Promise.resolve(0);
  function backlog(): Promise<number> {
    const now = d.clock.now();
    if (now - at >= cacheMs) {
      at = now;
      // The count under way is shared by every caller until it is reused no more: one COUNT.
      pending = d.pendingCount();
      // A failed count is not kept: the next caller counts again.
      void pending.catch(() => {
        if (at === now) {
          at = -Infinity;
        }
      });
    }
    return pending;
  }
  async function backlogAdmission(): Promise<Admission> {
    const n = await backlog();
    if (n > d.maxPendingInstances) {
      return {
        ok: false,
        code: ErrorCode.QUEUE_BACKLOG,
        message: `${String(n)} undelivered instances exceed the limit of ${String(d.maxPendingInstances)}.`,
      };
    }
    return { ok: true };
  }
  return {
    async check() {
      // The disk is read afresh every time (statfs costs microseconds): a reading reused for a
      // second let a fast sender write far past the watermark. Reservations of writers in flight count.
      const r = d.space.reading(d.dataDir);
      if (r.availableBytes < margin) {
        const held = r.reservedBytes > 0 ? ` (${String(r.reservedBytes)} B of it reserved by writes in progress)` : '';
        return {
          ok: false,
          code: ErrorCode.SPOOL_FULL,
          message: `Free space ${String(r.freeBytes)} B${held} is below the ${String(d.space.minFreeBytes)} B watermark (plus ${String(margin)} B for new work).`,
        };
      }
      return await backlogAdmission();
    },
    backlog: backlogAdmission,
    async readings() {
      const r = d.space.reading(d.dataDir);
      return { freeBytes: r.freeBytes, reservedBytes: r.reservedBytes, pendingInstances: await backlog() };
    },
  };
}
