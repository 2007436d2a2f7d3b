//! The read model behind /status, /series and /metrics: prepared, PHI-free queries over the queue.
// Only UIDs, AE titles, peer IPs, counts, times and bounded codes are selected. The schema holds no
// patient identifiers; listing columns explicitly (never `SELECT *`) keeps it that way here. The
// series list is series-list.ts and one batch's timeline is timeline.ts; this file holds the counters.
import type { JobState, StateCounts, SourceTotals, SinkSummary, Stats } from '../stats.ts';
import { SERIES_STATES, JOB_STATES } from '../stats.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';
import type { SeriesState, SourceId } from '../../events.ts';
import { seriesListSync } from './series-list.ts';
import { createTimeline } from './timeline.ts';

/**
 * Builds the read model; every statement is prepared once, here or in the list and timeline.
 * @param sources the registered source types (src/app/registry.ts): each appears in
 *   `sourceTotals` even before its first instance; a type found only in old rows is shown too.
 */
export function statsSync(db: Db, sources: readonly SourceId[]): Sync<Stats> {
  const q = {
    seriesByState: db.prepare<[], { state: SeriesState; series: number; instances: number; bytes: number }>(
      `SELECT state, COUNT(*) AS series, COALESCE(SUM(instance_count), 0) AS instances, COALESCE(SUM(byte_count), 0) AS bytes
       FROM series GROUP BY state`,
    ),
    jobsByState: db.prepare<[], { state: JobState; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
    sourceTotals: db.prepare<[], { source: SourceId; instances: number; bytes: number }>(
      'SELECT source, COUNT(*) AS instances, COALESCE(SUM(size), 0) AS bytes FROM instances GROUP BY source',
    ),
    sinkStates: db.prepare<[], { sink: string; state: JobState; n: number }>(
      'SELECT sink, state, COUNT(*) AS n FROM jobs GROUP BY sink, state ORDER BY sink',
    ),
    sinkSuccess: db.prepare<[], { sink: string; at: number }>(
      "SELECT sink, MAX(updated_at) AS at FROM jobs WHERE state = 'done' GROUP BY sink",
    ),
    // SQLite's bare-column rule: with MAX(a.id) the other columns come from that newest row.
    sinkFailure: db.prepare<
      [],
      { sink: string; id: number; at: number | null; started_at: number; code: string | null; error: string | null }
    >(
      `SELECT j.sink, MAX(a.id) AS id, a.finished_at AS at, a.started_at, a.code, a.error
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.outcome IN ('retry', 'rejected', 'error', 'lease-expired') GROUP BY j.sink`,
    ),
    oldestSeries: db.prepare<[], { id: number; at: number }>(
      `SELECT id, first_instance_at AS at FROM series WHERE state IN ('receiving', 'complete')
       ORDER BY first_instance_at, id LIMIT 1`,
    ),
    oldestJob: db.prepare<[], { id: number; at: number }>(
      "SELECT id, run_at AS at FROM jobs WHERE state = 'queued' ORDER BY run_at, id LIMIT 1",
    ),
    openAssociations: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM associations WHERE closed_at IS NULL'),
  };

  const list = seriesListSync(db);
  const timeline = createTimeline(db);
  return {
    seriesByState() {
      const out = fill(SERIES_STATES, (): StateCounts => ({ series: 0, instances: 0, bytes: 0 }));
      for (const r of q.seriesByState.all()) {
        out[r.state] = { series: r.series, instances: r.instances, bytes: r.bytes };
      }
      return out;
    },
    jobsByState() {
      const out = fill(JOB_STATES, () => 0);
      for (const r of q.jobsByState.all()) {
        out[r.state] = r.n;
      }
      return out;
    },
    sourceTotals() {
      const out = fill(sources, (): SourceTotals => ({ instances: 0, bytes: 0 }));
      for (const r of q.sourceTotals.all()) {
        out[r.source] = { instances: r.instances, bytes: r.bytes };
      }
      return out;
    },
    sinks() {
      const bySink = new Map<string, SinkSummary>();
      const get = (sink: string): SinkSummary => {
        let s = bySink.get(sink);
        if (!s) {
          bySink.set(sink, (s = { sink, jobs: fill(JOB_STATES, () => 0), lastSuccessAt: null, lastFailure: null }));
        }
        return s;
      };
      for (const r of q.sinkStates.all()) {
        get(r.sink).jobs[r.state] = r.n;
      }
      for (const r of q.sinkSuccess.all()) {
        get(r.sink).lastSuccessAt = r.at;
      }
      for (const r of q.sinkFailure.all()) {
        get(r.sink).lastFailure = { at: r.at ?? r.started_at, code: r.code, error: r.error };
      }
      return [...bySink.values()];
    },
    oldestPending() {
      const s = q.oldestSeries.get();
      const j = q.oldestJob.get();
      return {
        seriesFirstInstanceAt: s?.at ?? null,
        seriesId: s?.id ?? null,
        jobRunAt: j?.at ?? null,
        jobId: j?.id ?? null,
      };
    },
    openAssociations() {
      return q.openAssociations.get()?.n ?? 0;
    },
    listSeries: (query) => list.page(query),
    timeline,
  };
}

/** Seconds from `at` to `now` (epoch ms), never negative; null when there is nothing pending. */
export function ageSeconds(at: number | null, now: number): number | null {
  return at === null ? null : Math.max(0, (now - at) / 1000);
}

function fill<K extends string, V>(keys: readonly K[], make: () => V): Record<K, V> {
  const out = {} as Record<K, V>;
  for (const k of keys) {
    out[k] = make();
  }
  return out;
}

/** The async Stats over SQLite: each call waits its turn on the connection (turns.ts). */
export function createStats(db: Db, sources: readonly SourceId[]): Stats {
  return serialised<Stats>(db, statsSync(db, sources));
}
