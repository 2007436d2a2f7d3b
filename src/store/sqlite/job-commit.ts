//! How a job transition commits: one transaction, its events after the outermost COMMIT, the series state derived.
// The store alone emits job.* and series.state, so worker, reaper and operator commands all report
// the same way. The events go out after the outermost COMMIT (db.ts `afterCommit`): a call inside a
// caller's transaction (releaseSeries → redeliver) announces nothing if that transaction rolls back.
import type { DaemonEventMap, DaemonEventName, DaemonEvents, SeriesState } from '../../events.ts';
import type { AuditLog } from '../audit.ts';
import type { Db } from './db.ts';
import { afterCommit, storeTransaction } from './turns.ts';
import type { Sync } from '../unit-of-work.ts';
import type { JobQueries } from './job-queries.ts';
import type { AttemptOutcome, Job, JobFailure } from '../jobs.ts';

/** An event a transition will emit once committed. */
export type Emission = { [K in DaemonEventName]: { name: K; payload: DaemonEventMap[K] } }[DaemonEventName];

export interface JobCommit {
  /** Runs `fn` in one BEGIN IMMEDIATE transaction, then emits what it collected. */
  readonly tx: <T>(fn: (out: Emission[]) => T) => T;
  /** Derives the series state from its jobs: any dead → failed; all done → delivered; else complete. */
  readonly settleSeries: (seriesId: number, now: number, out: Emission[]) => void;
  /** Kills a job (token null = any holder); writes the audit row and settles the series. */
  readonly markDead: (
    id: number,
    token: string | null,
    f: JobFailure,
    outcome: AttemptOutcome,
    by: string,
    now: number,
    out: Emission[],
  ) => Job | null;
}

export function createJobCommit(
  db: Db,
  q: JobQueries,
  audit: Sync<AuditLog>,
  events: DaemonEvents | undefined,
): JobCommit {
  function tx<T>(fn: (out: Emission[]) => T): T {
    const out: Emission[] = [];
    const result = storeTransaction(db, () => fn(out));
    afterCommit(db, () => {
      for (const e of out) {
        events?.emit(e.name, e.payload);
      }
    });
    return result;
  }

  function settleSeries(seriesId: number, now: number, out: Emission[]): void {
    const s = q.series.get(seriesId) as { state: SeriesState; batch: number } | undefined;
    if (!s || s.state === 'receiving') {
      return;
    }
    const c = q.seriesJobs.get(seriesId) as { total: number; done: number; dead: number };
    const to: SeriesState = c.dead > 0 ? 'failed' : c.done === c.total ? 'delivered' : 'complete';
    if (to === s.state) {
      return;
    }
    q.seriesSet.run({ id: seriesId, to, now });
    out.push({ name: 'series.state', payload: { seriesId, from: s.state, to, batch: s.batch } });
  }

  const markDead: JobCommit['markDead'] = (id, token, f, outcome, by, now, out) => {
    const job = q.dead.get({
      id,
      token,
      now,
      code: f.code,
      stage: f.stage,
      error: f.error,
      detail: f.detail ? JSON.stringify(f.detail) : null,
    }) as Job | undefined;
    if (!job) {
      return null;
    }
    q.attemptEnd.run({ id, now, outcome, code: f.code, error: f.error });
    audit.record('job.dead', job.seriesId, { jobId: id, sink: job.sink, code: f.code, stage: f.stage, by }, now);
    out.push({
      name: 'job.failed',
      payload: {
        jobId: id,
        seriesId: job.seriesId,
        sink: job.sink,
        attempt: job.attempts,
        code: f.code,
        stage: f.stage,
        error: f.error,
      },
    });
    settleSeries(job.seriesId, now, out);
    return job;
  };

  return { tx, settleSeries, markDead };
}
