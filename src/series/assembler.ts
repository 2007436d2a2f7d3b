//! Series assembly: a batch completes after a quiet period with no open association; the router takes it from there.
// The completion "timers" are the last_instance_at column, not in-memory timers: a tick is a query,
// so after a crash or restart the pending batches complete on the first tick with nothing to rebuild.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createSeriesStore } from '../store/sqlite/series.ts';
import type { JobStore } from '../store/jobs.ts';

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
  /** This gateway's node id: recovery closes only its own associations. */
  readonly nodeId?: string;
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
  /**
   * Completes every due batch in one transaction; resolves with how many completed. A tick asked
   * for while another runs starts after it: two never overlap.
   */
  tick(): Promise<number>;
  /**
   * Every expected instance of these series of `studyInstanceUid` has arrived (a pull counted
   * them): their receiving batches complete as soon as no association and no file still in flight
   * holds them — now, or at a later tick within EARLY_WINDOW_MS — instead of after the quiet
   * period. Resolves with how many completed now.
   */
  completeWhenFree(studyInstanceUid: string, seriesInstanceUids: readonly string[]): Promise<number>;
  /** Run once at start-up, before sources and workers start. */
  recoverAfterRestart(): Promise<RecoveryCounts>;
  /** Ticks every `checkIntervalMs` until `stop()`. */
  start(): void;
  /** Stops ticking; resolves once the tick under way (if any) has ended. */
  stop(): Promise<void>;
  /** Earliest epoch ms at which a receiving batch could complete, or null when none can yet
   *  (none receiving, or all held open by an association). */
  nextDueAt(): Promise<number | null>;
}

/** How long series named to `completeWhenFree` are retried at each tick before the quiet period
 *  alone decides (the sender's association is normally released within milliseconds). */
export const EARLY_WINDOW_MS = 120_000;

/** Builds the assembler over the series store (store/sqlite/series.ts). */
export function createAssembler(deps: AssemblerDeps): Assembler {
  const { db, clock, events, log, jobs } = deps;
  const series = createSeriesStore(db);
  let timer: { cancel(): void } | null = null;
  let running = false;
  // The ticks asked for, one after another (each settles, failed or not, before the next starts),
  // and how many of them have not ended yet.
  let ticks: Promise<unknown> = Promise.resolve();
  let ticksLeft = 0;

  // Series named to completeWhenFree whose batches were still held: study → series UIDs, until when.
  const early = new Map<string, { series: Set<string>; until: number }>();

  function announce(completed: readonly { id: number; batch: number }[], how: string): void {
    for (const r of completed) {
      events.emit('series.state', { seriesId: r.id, from: 'receiving', to: 'complete', batch: r.batch });
    }
    if (completed.length > 0) {
      log.info({ count: completed.length, how }, 'Series completed.');
      deps.onCompleted?.();
    }
  }

  /** Completes what it can of the named series of `study`; resolves with how many batches completed. */
  async function completeNamed(study: string, uids: readonly string[], now: number): Promise<number> {
    const done = await series.completeNamed(study, uids, now);
    announce(done, 'every expected instance arrived');
    const entry = early.get(study);
    for (const d of done) {
      entry?.series.delete(d.seriesInstanceUid);
    }
    if (entry?.series.size === 0) {
      early.delete(study);
    }
    return done.length;
  }

  async function runTick(): Promise<number> {
    const now = clock.now();
    const completed = await series.completeDue(now - deps.quietPeriodMs, now);
    announce(completed, 'quiet period');
    let n = completed.length;
    for (const [study, entry] of [...early]) {
      if (now > entry.until) {
        // Unless completeWhenFree named the study afresh meanwhile (a new entry).
        if (early.get(study) === entry) {
          early.delete(study);
        }
        continue;
      }
      n += await completeNamed(study, [...entry.series], now);
    }
    return n;
  }

  function tick(): Promise<number> {
    ticksLeft++;
    const run = ticks.then(runTick).finally(() => {
      ticksLeft--;
    });
    ticks = run.catch(() => undefined);
    return run;
  }

  function schedule(): void {
    timer = clock.setTimeout(() => {
      timer = null;
      if (!running) {
        return;
      }
      // Rescheduled first, so a stop() from inside the tick (via onCompleted) cancels it.
      schedule();
      if (ticksLeft > 0) {
        return; // a tick still runs (a slow database): it does this one's work
      }
      tick().catch((err: unknown) => {
        // A failed tick (disk full, busy database) is retried on the next one; never crash the loop.
        log.error({ err }, 'Series assembly tick failed.');
      });
    }, deps.checkIntervalMs);
  }

  return {
    tick,

    completeWhenFree(study, uids) {
      const now = clock.now();
      const entry = early.get(study) ?? { series: new Set<string>(), until: 0 };
      for (const u of uids) {
        entry.series.add(u);
      }
      entry.until = now + EARLY_WINDOW_MS;
      early.set(study, entry);
      return completeNamed(study, uids, now);
    },

    async recoverAfterRestart() {
      const now = clock.now();
      const associations = await series.closeInterrupted(now, deps.nodeId ?? null);
      const expired = await jobs.reapExpired(now);
      const orphaned = await jobs.releaseOrphans(now);
      const counts = { associations, expired, orphaned };
      log.info(counts, 'Recovered state left by the previous run.');
      return counts;
    },

    start() {
      if (running) {
        return;
      }
      running = true;
      schedule();
    },

    async stop() {
      running = false;
      timer?.cancel();
      timer = null;
      await ticks;
    },

    async nextDueAt() {
      const at = await series.oldestQuiet();
      return at === null ? null : at + deps.quietPeriodMs;
    },
  };
}
