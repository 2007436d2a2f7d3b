//! The delivery job store: enqueue, lease, heartbeat, finish, reap and admin actions on `jobs`.
// Each transition is one short transaction fenced by the lease token (CAS): a worker that lost its
// lease cannot overwrite the verdict of the current holder. The statements are job-queries.ts; how
// a transition commits and announces itself (job.*, series.state, after COMMIT) is job-commit.ts.
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import { ErrorCode, type Stage } from '../../errors.ts';
import { auditLogSync } from './audit.ts';
import type { Db } from './db.ts';
import { createJobCommit } from './job-commit.ts';
import { prepareJobQueries } from './job-queries.ts';
import {
  deliverPayload,
  type DeliverPayload,
  type Job,
  type JobAttempt,
  type JobFailure,
  type JobState,
  type JobStore,
  type JobStoreOptions,
} from '../jobs.ts';

/** Builds the job store over an open database. Statements are prepared once, here. */
export function jobStoreSync(db: Db, clock: Clock, opts: JobStoreOptions = {}): Sync<JobStore> {
  const defaultLeaseMs = opts.leaseMs ?? 60_000;
  const maxAgeMs = opts.maxAgeMs;
  const node = opts.nodeId ?? null;
  const audit = auditLogSync(db);
  const q = prepareJobQueries(db);
  const { tx, settleSeries, markDead } = createJobCommit(db, q, audit, opts.events);

  /** Returns leases to the queue (all running jobs, or only expired ones); out of attempts → dead. */
  function reap(all: boolean, now: number): number {
    return tx((out) => {
      const rows = q.expired.all({ all: all ? 1 : 0, now, node }) as Job[];
      const f: JobFailure = {
        code: ErrorCode.JOB_LEASE_LOST,
        stage: 'sending',
        error: all ? 'Daemon restarted during the attempt.' : 'Lease expired.',
      };
      for (const j of rows) {
        const ended = { id: j.id, now, outcome: 'lease-expired', code: f.code, error: f.error };
        if (j.attempts >= j.maxAttempts) {
          markDead(j.id, j.leaseToken, f, 'lease-expired', 'reaper', now, out);
        } else if (
          q.requeueLeased.get({ ...f, id: j.id, token: j.leaseToken, runAt: now, refund: 0, detail: null, now })
        ) {
          q.attemptEnd.run(ended);
        }
      }
      return rows.length;
    });
  }

  return {
    enqueueDeliveries(seriesId, sinks, maxAttempts, o = {}) {
      const now = clock.now();
      return db.transaction(() => {
        let created = 0;
        for (const sink of sinks) {
          created += q.insert.run(seriesId, sink, maxAttempts, now, now, now, o.afterSeriesId ?? null).changes;
        }
        return created;
      })();
    },

    redeliver(seriesId, sinks, maxAttempts) {
      return tx((out) => {
        const now = clock.now();
        if ((q.running.get(seriesId) as { n: number }).n > 0) {
          return null;
        }
        let n = 0;
        for (const sink of sinks) {
          const reset = q.redeliver.run({ seriesId, sink, maxAttempts, now }).changes;
          n += reset || q.insert.run(seriesId, sink, maxAttempts, now, now, now, null).changes;
        }
        audit.record('series.redeliver', seriesId, { sinks: sinks.join(','), jobs: n }, now);
        settleSeries(seriesId, now, out);
        return n;
      });
    },

    claim(now = clock.now(), leaseMs = defaultLeaseMs, skipSinks = []) {
      return tx((out) => {
        // Bounded: each bad payload turns one queued job dead, so the loop cannot revisit it.
        for (;;) {
          const token = randomUUID();
          const row = q.claim.get({ token, now, leaseMs, node, skip: JSON.stringify(skipSinks) }) as Job | undefined;
          if (!row) {
            return null;
          }
          q.attemptStart.run(row.id, row.attempts, now);
          const parsed = parsePayload(row.payload);
          if (parsed) {
            return {
              id: row.id,
              seriesId: row.seriesId,
              sink: row.sink,
              attempt: row.attempts,
              maxAttempts: row.maxAttempts,
              leaseToken: token,
              leaseMs,
              startedAt: now,
              createdAt: row.createdAt,
              payload: parsed,
            };
          }
          const f: JobFailure = {
            code: ErrorCode.JOB_PAYLOAD,
            stage: 'starting',
            error: 'Job payload failed validation.',
          };
          markDead(row.id, token, f, 'rejected', 'claim', now, out);
        }
      });
    },

    heartbeat(job) {
      const now = clock.now();
      return q.heartbeat.run({ id: job.id, token: job.leaseToken, until: now + job.leaseMs, now }).changes === 1;
    },

    complete(job, receipt, detail) {
      return tx((out) => {
        const now = clock.now();
        if (
          q.done.run({
            id: job.id,
            token: job.leaseToken,
            receipt,
            detail: detail ? JSON.stringify(detail) : null,
            now,
          }).changes !== 1
        ) {
          return false;
        }
        q.attemptEnd.run({ id: job.id, now, outcome: 'delivered', code: null, error: null });
        out.push({
          name: 'job.succeeded',
          payload: {
            jobId: job.id,
            seriesId: job.seriesId,
            sink: job.sink,
            attempt: job.attempt,
            durationMs: now - job.startedAt,
          },
        });
        settleSeries(job.seriesId, now, out);
        return true;
      });
    },

    retry(job, f) {
      return tx((out) => {
        const now = clock.now();
        const outcome = f.outcome ?? 'retry';
        const refund = f.refund === true ? 1 : 0;
        if (refund === 0 && job.attempt >= job.maxAttempts) {
          return markDead(job.id, job.leaseToken, f, outcome, 'worker', now, out) ? 'dead' : 'lost';
        }
        // Past the maximum age a job stops even with attempts left (or while its sink is down).
        if (maxAgeMs !== undefined && now - job.createdAt >= maxAgeMs) {
          const old: JobFailure = {
            ...f,
            code: ErrorCode.JOB_TOO_OLD,
            error: `Still failing ${String(Math.round((now - job.createdAt) / 60_000))} min after it was queued (workers.maxAgeMs); last error: ${f.error}`,
          };
          return markDead(job.id, job.leaseToken, old, outcome, 'worker', now, out) ? 'dead' : 'lost';
        }
        const row = q.requeueLeased.get({
          id: job.id,
          token: job.leaseToken,
          runAt: f.runAt,
          refund,
          error: f.error,
          code: f.code,
          stage: f.stage,
          detail: f.detail ? JSON.stringify(f.detail) : null,
          now,
        });
        if (!row) {
          return 'lost';
        }
        q.attemptEnd.run({ id: job.id, now, outcome, code: f.code, error: f.error });
        out.push({
          name: 'job.retrying',
          payload: {
            jobId: job.id,
            seriesId: job.seriesId,
            sink: job.sink,
            attempt: job.attempt,
            code: f.code,
            stage: f.stage,
            runAt: f.runAt,
            error: f.error,
          },
        });
        return 'queued';
      });
    },

    kill(job, f) {
      return tx(
        (out) => markDead(job.id, job.leaseToken, f, f.outcome ?? 'rejected', 'worker', clock.now(), out) !== null,
      );
    },

    release(job, reason) {
      return tx(() => {
        const now = clock.now();
        // Null last_*: they keep the previous failure, as a shutdown is not a failure of the job.
        const row = q.requeueLeased.get({
          id: job.id,
          token: job.leaseToken,
          runAt: now,
          refund: 1,
          error: null,
          code: null,
          stage: null,
          detail: null,
          now,
        });
        if (!row) {
          return false;
        }
        q.attemptEnd.run({ id: job.id, now, outcome: 'lease-expired', code: ErrorCode.SHUTTING_DOWN, error: reason });
        return true;
      });
    },

    reapExpired: (now = clock.now()) => reap(false, now),
    releaseOrphans: (now = clock.now()) => reap(true, now),

    requeue(jobId, by = 'cli') {
      return tx((out) => {
        const now = clock.now();
        const before = q.get.get(jobId) as Job | undefined;
        const job = q.requeueAdmin.get({ id: jobId, now }) as Job | undefined;
        if (!job || !before) {
          return null;
        }
        audit.record('job.requeued', job.seriesId, { jobId, sink: job.sink, from: before.state, by }, now);
        settleSeries(job.seriesId, now, out);
        return job;
      });
    },

    failNow(jobId, reason) {
      return tx((out) => {
        const before = q.get.get(jobId) as Job | undefined;
        if (!before) {
          return null;
        }
        const stage = (before.lastStage ?? 'sending') as Stage;
        return markDead(
          jobId,
          null,
          { code: ErrorCode.JOB_CANCELLED, stage, error: reason },
          'error',
          'operator',
          clock.now(),
          out,
        );
      });
    },

    list: (o) => q.list.all({ state: o.state ?? null, limit: o.limit }) as Job[],
    get: (id) => q.get.get(id) as Job | undefined,
    attempts: (jobId) => q.attempts.all(jobId) as JobAttempt[],
    counts() {
      const c: Record<JobState, number> = { queued: 0, running: 0, done: 0, dead: 0 };
      for (const r of q.counts.all() as { state: JobState; n: number }[]) {
        c[r.state] = r.n;
      }
      return c;
    },
    unfinished: (seriesId) => q.unfinished.get(seriesId) ?? 0,
    ofSeries: (seriesId) => q.ofSeries.all(seriesId),
  };
}

function parsePayload(text: string): DeliverPayload | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null; // Unparsable JSON gets the same verdict as a schema mismatch: the job is killed.
  }
  const r = deliverPayload.safeParse(json);
  return r.success ? r.data : null;
}

/** The async JobStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createJobStore(db: Db, clock: Clock, opts: JobStoreOptions = {}): JobStore {
  return serialised<JobStore>(db, jobStoreSync(db, clock, opts));
}
