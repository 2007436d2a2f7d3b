//! Spool retention: a batch's originals go once it is delivered and verified in its final project.
// Until then (receiving, waiting for its images, quarantined, failed, dead) they stay: a release or
// a requeue de-identifies the batch again from them. "Delivered" means every delivery job is done,
// and a job is done only after the sink verified what it sent (XNAT's session counted, or the
// outbox copy fsynced); an unverifiable lookup keeps the job retrying (xnat/verified-delivery.ts).
// With `retainDelivered: { mode: keep }` the originals stay as a local copy within a size and age
// cap, and kept copies are the first thing given up when the disk falls below the watermark.
// Files are deleted before the row says so (a crash in between only repeats the deletion), except
// for discards, whose row comes first with pending_delete set (pipeline/discard.ts).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { OriginalsStore } from '../store/originals.ts';
import type { DiskSpace } from './disk-space.ts';

export interface RetentionDeps {
  readonly originals: OriginalsStore;
  readonly spoolDir: string;
  readonly policy: Config['spool']['retainDelivered'];
  readonly space: DiskSpace;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  /** How often caps and disk pressure are checked, in ms. */
  readonly checkIntervalMs: number;
}

export interface Retention {
  /** Start-up: finishes deletions a crash interrupted and handles batches delivered meanwhile. */
  recover(): Promise<{ removed: number; retained: number; finished: number }>;
  /** Follows deliveries and checks the caps every checkIntervalMs. */
  start(): void;
  /** Handles everything due now (also what `start` runs); resolves when done. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Batches handled per database query (the start-up scan pages through the series table). */
const PAGE = 500;

/** Deletes a batch's spool files; a file already gone is fine. Returns files and bytes removed. */
export async function removeSpoolFiles(
  spoolDir: string,
  files: readonly { path: string; size: number }[],
): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  for (const f of files) {
    await rm(join(spoolDir, f.path), { force: true });
    bytes += f.size;
  }
  return { files: files.length, bytes };
}

export function createRetention(d: RetentionDeps): Retention {
  const { originals, clock, log } = d;
  const due = new Set<number>();
  let timer: { cancel(): void } | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let started = false;
  let unsubscribe: (() => void) | null = null;

  /** Removes or keeps the originals of delivered batches `ids`. */
  async function settleDelivered(ids: readonly number[]): Promise<{ removed: number; retained: number }> {
    let removed = 0;
    let retained = 0;
    for (const id of await originals.deliveredHeld({ ids })) {
      const files = await originals.files(id);
      const total = { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
      const at = clock.now();
      if (d.policy === 0) {
        await removeSpoolFiles(d.spoolDir, files);
        await originals.put({
          seriesId: id,
          state: 'removed',
          reason: 'delivered',
          by: null,
          ...total,
          at,
          pendingDelete: false,
        });
        removed++;
      } else {
        await originals.put({
          seriesId: id,
          state: 'retained',
          reason: 'delivered',
          by: null,
          ...total,
          at,
          pendingDelete: false,
        });
        retained++;
      }
    }
    if (removed) {
      log.info({ series: removed }, 'Removed the originals of delivered and verified series from the spool.');
    }
    return { removed, retained };
  }

  /** Removes kept copies, oldest first, while `over` says so. */
  async function prune(
    reason: 'retention-cap' | 'retention-age' | 'disk-space',
    over: (oldest: { at: number }) => boolean | Promise<boolean>,
  ): Promise<number> {
    let n = 0;
    for (;;) {
      const [oldest] = await originals.retained(1);
      if (!oldest || !(await over(oldest))) {
        break;
      }
      await removeSpoolFiles(d.spoolDir, await originals.files(oldest.seriesId));
      await originals.put({ ...oldest, state: 'removed', reason, at: clock.now(), pendingDelete: false });
      n++;
    }
    if (n) {
      log.info({ series: n, reason }, 'Removed kept copies of delivered series from the spool.');
    }
    return n;
  }

  async function enforceCaps(): Promise<void> {
    const policy = d.policy;
    if (policy === 0) {
      return;
    }
    if (policy.maxAgeMs !== null) {
      const cutoff = clock.now() - policy.maxAgeMs;
      await prune('retention-age', (r) => r.at <= cutoff);
    }
    await prune('retention-cap', async () => (await originals.retainedTotal()).bytes > policy.maxBytes);
    // A local copy is a convenience; the spool's headroom for new data is not.
    await prune('disk-space', () => d.space.reading(d.spoolDir).availableBytes < 0);
  }

  async function finishPending(): Promise<number> {
    const ids = await originals.pendingDeletes();
    for (const id of ids) {
      await removeSpoolFiles(d.spoolDir, await originals.files(id));
      await originals.deleted(id);
    }
    return ids.length;
  }

  async function runTick(): Promise<void> {
    await finishPending();
    const ids = [...due];
    await settleDelivered(ids);
    for (const id of ids) {
      due.delete(id);
    }
    await enforceCaps();
  }

  function tick(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = runTick().finally(() => {
      running = null;
      if (again && started) {
        again = false;
        void tickLogged();
      }
    });
    return running;
  }

  async function tickLogged(): Promise<void> {
    try {
      await tick();
    } catch (err) {
      // A full disk (SQLITE_FULL) or an I/O error: the batches stay due and are tried next time.
      log.error({ err }, 'Spool retention failed; it is retried on the next check.');
    }
  }

  function schedule(): void {
    timer = clock.setTimeout(() => {
      timer = null;
      if (!started) {
        return;
      }
      schedule();
      void tickLogged();
    }, d.checkIntervalMs);
  }

  return {
    async recover() {
      const finished = await finishPending();
      let removed = 0;
      let retained = 0;
      for (let after = 0; ;) {
        const ids = await originals.deliveredHeld({ afterId: after, limit: PAGE });
        if (!ids.length) {
          break;
        }
        const r = await settleDelivered(ids);
        removed += r.removed;
        retained += r.retained;
        after = ids[ids.length - 1] ?? after;
      }
      await enforceCaps();
      return { removed, retained, finished };
    },
    start() {
      if (started) {
        return;
      }
      started = true;
      unsubscribe = d.events.on('series.state', (e) => {
        if (e.to !== 'delivered') {
          return;
        }
        // Kept until the tick has it: a failed tick leaves it due for the next one.
        due.add(e.seriesId);
        void tickLogged();
      });
      schedule();
    },
    tick,
    async stop() {
      started = false;
      unsubscribe?.();
      timer?.cancel();
      timer = null;
      await running?.catch(() => undefined);
      // Batches delivered just before the stop are settled now rather than at the next start-up.
      if (due.size) {
        await tickLogged();
      }
    },
  };
}
