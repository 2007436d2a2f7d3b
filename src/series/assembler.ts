//! Series assembly: a batch completes after a quiet period with no open association; the router takes it from there.
// The completion "timers" are the last_instance_at column, not in-memory timers: a tick is a query,
// so after a crash or restart the pending batches complete on the first tick with nothing to rebuild.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../queue/db.ts';
import type { JobStore } from '../queue/job-types.ts';

export interface AssemblerDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  /** Time since a batch's last instance after which it may complete, in ms. */
  readonly quietPeriodMs: number;
  /** How often `start()` runs `tick()`, in ms. */
  readonly checkIntervalMs: number;
  readonly jobs: JobStore;
  /** Called after a tick completed batches, e.g. the router's `notify` so it routes them at once. */
  readonly onCompleted?: () => void;
}

/** What `recoverAfterRestart` put right. */
export interface RecoveryCounts {
  /** Associations left open by the previous process, now closed as 'interrupted'. */
  readonly associations: number;
  /** Running jobs whose lease had already expired. */
  readonly expired: number;
  /** Running jobs whose worker died with the previous process. */
  readonly orphaned: number;
}

export interface Assembler {
  /** Completes every due batch in one transaction; returns how many completed. */
  tick(): number;
  /** Run once at start-up, before sources and workers start. */
  recoverAfterRestart(): RecoveryCounts;
  /** Ticks every `checkIntervalMs` until `stop()`. */
  start(): void;
  stop(): void;
  /** Earliest epoch ms at which a receiving batch could complete, or null when none can yet
   *  (none receiving, or all held open by an association). */
  nextDueAt(): number | null;
}

// An open association that sent to the batch may still send more of it: it holds the batch open.
const NO_OPEN_ASSOCIATION = `NOT EXISTS (SELECT 1 FROM series_associations sa JOIN associations a ON a.id = sa.association_id
  WHERE sa.series_id = s.id AND a.closed_at IS NULL)`;
// A row whose spool file's fsync has not completed (ADR 0012) holds its batch open too: nothing
// that might not survive a power loss is routed or delivered.
const NO_FILE_IN_FLIGHT = `NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_id = s.id AND i.durable = 0)`;

/** Builds the assembler. Statements are prepared once, here. */
export function createAssembler(deps: AssemblerDeps): Assembler {
  const { db, clock, events, log, jobs } = deps;
  const q = {
    due: db.prepare(`SELECT id, batch FROM series s WHERE state = 'receiving' AND last_instance_at <= ?
      AND ${NO_OPEN_ASSOCIATION} AND ${NO_FILE_IN_FLIGHT} ORDER BY last_instance_at, id`),
    complete: db.prepare(`UPDATE series SET state = 'complete', completed_at = ? WHERE id = ? AND state = 'receiving'`),
    audit: db.prepare('INSERT INTO events (at, kind, series_id, detail) VALUES (?, ?, ?, ?)'),
    nextDue: db.prepare(`SELECT min(last_instance_at) AS at FROM series s WHERE state = 'receiving' AND ${NO_OPEN_ASSOCIATION} AND ${NO_FILE_IN_FLIGHT}`),
    // A watched-folder drop that was being read keeps its association: the restarted source resumes
    // the drop under it, so the drop's series do not complete half-read (folder source, ledger).
    closeOpen: db.prepare(`UPDATE associations SET closed_at = ?, outcome = 'interrupted' WHERE closed_at IS NULL
      AND uid NOT IN (SELECT association_uid FROM folder_drops WHERE state IN ('reading', 'releasing') AND association_uid IS NOT NULL)`),
  };
  let timer: { cancel(): void } | null = null;
  let running = false;

  function tick(): number {
    const now = clock.now();
    const completed = db.transaction(() => {
      const rows = q.due.all(now - deps.quietPeriodMs) as { id: number; batch: number }[];
      const done: { id: number; batch: number }[] = [];
      for (const r of rows) {
        if (q.complete.run(now, r.id).changes !== 1) {continue;}
        // No jobs yet: the router decides the project first (a complete batch with no route row is
        // exactly its to-do list, so nothing is lost across a crash here).
        q.audit.run(now, 'series.completed', r.id, JSON.stringify({ batch: r.batch }));
        done.push(r);
      }
      return done;
    }).immediate();
    for (const r of completed) {events.emit('series.state', { seriesId: r.id, from: 'receiving', to: 'complete', batch: r.batch });}
    if (completed.length > 0) {
      log.info({ count: completed.length }, 'Series completed.');
      deps.onCompleted?.();
    }
    return completed.length;
  }

  function schedule(): void {
    timer = clock.setTimeout(() => {
      timer = null;
      if (!running) {return;}
      // Rescheduled first, so a stop() from inside the tick (via onCompleted) cancels it.
      schedule();
      try {
        tick();
      } catch (err) {
        // A failed tick (disk full, busy database) is retried on the next one; never crash the loop.
        log.error({ err }, 'Series assembly tick failed.');
      }
    }, deps.checkIntervalMs);
  }

  return {
    tick,

    recoverAfterRestart() {
      const now = clock.now();
      const associations = db.transaction(() => q.closeOpen.run(now).changes).immediate();
      const expired = jobs.reapExpired(now);
      const orphaned = jobs.releaseOrphans(now);
      const counts = { associations, expired, orphaned };
      log.info(counts, 'Recovered state left by the previous run.');
      return counts;
    },

    start() {
      if (running) {return;}
      running = true;
      schedule();
    },

    stop() {
      running = false;
      timer?.cancel();
      timer = null;
    },

    nextDueAt() {
      const r = q.nextDue.get() as { at: number | null };
      return r.at === null ? null : r.at + deps.quietPeriodMs;
    },
  };
}
