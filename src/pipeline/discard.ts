//! Discard: an administrator gives up a series batch the spool holds (quarantined, waiting, failed,
//! dead) and its original files are deleted, with who and why in the audit. Used by
//! POST /series/:id/discard and `xnat-gateway discard`.
// The decision is committed first (with pending_delete set), then the files go: a crash between the
// two leaves a row that start-up retention finishes, never a deleted file still counted as held.
// Its delivery jobs that have not run yet are cancelled, so nothing tries to send files that are gone.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import { createSeriesStore } from '../store/sqlite/series.ts';
import type { JobStore } from '../store/jobs.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import type { OriginalsStore } from '../store/originals.ts';
import type { RouteStore } from '../store/routes.ts';
import { removeSpoolFiles } from '../spool/retention.ts';

export interface DiscardDeps {
  readonly db: Db;
  /** Checks and records a discard as one: no delivery starts and no release lands in between. */
  readonly uow: UnitOfWork;
  readonly jobs: JobStore;
  readonly routes: RouteStore;
  readonly originals: OriginalsStore;
  readonly clock: Clock;
  readonly spoolDir: string;
  readonly events?: DaemonEvents;
}

export type DiscardResult =
  | {
      readonly ok: true;
      readonly seriesId: number;
      readonly files: number;
      readonly bytes: number;
      readonly jobsCancelled: number;
    }
  | { readonly ok: false; readonly status: 404 | 409; readonly message: string };

class DiscardRefused extends Error {
  override readonly name = 'DiscardRefused';
}

/** Discards series batch `seriesId`: cancels its pending jobs, records who and why, deletes its originals. */
export async function discardSeries(
  deps: DiscardDeps,
  seriesId: number,
  by: string,
  reason: string,
): Promise<DiscardResult> {
  const { db, jobs, originals, clock } = deps;
  const audit = createAuditLog(db);
  let cancelled = 0;
  let series: { files: number; bytes: number };
  try {
    const found = await deps.uow.run(async () => {
      const row = await createSeriesStore(db).get(seriesId);
      if (!row) {
        return null;
      }
      const now = clock.now();
      const before = await originals.get(seriesId);
      if (before && before.state !== 'retained') {
        throw new DiscardRefused(
          `The originals of series ${String(seriesId)} were already ${before.state} (${before.reason}).`,
        );
      }
      if (row.state === 'receiving') {
        throw new DiscardRefused(`Series ${String(seriesId)} is still receiving; discard it once it is complete.`);
      }
      if (!(await deps.routes.get(seriesId))) {
        throw new DiscardRefused(`Series ${String(seriesId)} has no routing decision yet; try again in a moment.`);
      }
      const rows = await jobs.ofSeries(seriesId);
      if (rows.some((j) => j.state === 'running')) {
        throw new DiscardRefused(
          `A delivery of series ${String(seriesId)} is running; discard it when it has finished.`,
        );
      }
      for (const j of rows.filter((r) => r.state === 'queued')) {
        // Dead with ERR_JOB_CANCELLED, the reason as its last error: the series shows failed, on purpose.
        if (await jobs.failNow(j.id, `Discarded by ${by}: ${reason}`)) {
          cancelled++;
        }
      }
      await originals.put({
        seriesId,
        state: 'discarded',
        reason,
        by,
        files: row.files,
        bytes: row.bytes,
        at: now,
        pendingDelete: true,
      });
      await audit.record(
        'series.discarded',
        seriesId,
        {
          by,
          reason,
          files: row.files,
          bytes: row.bytes,
          jobsCancelled: cancelled,
          wasRetained: before?.state === 'retained',
        },
        now,
      );
      return row;
    });
    if (!found) {
      return { ok: false, status: 404, message: `Series ${String(seriesId)} is not known to the gateway.` };
    }
    series = found;
  } catch (err) {
    if (err instanceof DiscardRefused) {
      return { ok: false, status: 409, message: err.message };
    }
    throw err;
  }
  await removeSpoolFiles(deps.spoolDir, await originals.files(seriesId));
  await originals.deleted(seriesId);
  deps.events?.emit('series.discarded', { seriesId, by });
  return { ok: true, seriesId, files: series.files, bytes: series.bytes, jobsCancelled: cancelled };
}
