//! The delivery job store: enqueue, lease, heartbeat, finish, reap and admin actions on `jobs`.
// Each transition is one short transaction fenced by the lease token (CAS): a worker that lost its
// lease cannot overwrite the verdict of the current holder. The store alone emits job.* and
// series.state, so worker, reaper and operator commands all report the same way; the events go
// out after the outermost COMMIT (db.ts `afterCommit`): a call inside a caller's transaction
// (releaseSeries → redeliver) announces nothing if that transaction rolls back.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import { ErrorCode, type Stage } from '../../errors.ts';
import type { DaemonEventMap, DaemonEventName, SeriesState } from '../../events.ts';
import { createAuditLog } from './audit.ts';
import { afterCommit, unitOfWork, type Db } from './db.ts';
import {
  deliverPayload,
  type AttemptOutcome,
  type DeliverPayload,
  type Job,
  type JobAttempt,
  type JobFailure,
  type JobState,
  type JobStore,
  type JobStoreOptions,
} from '../jobs.ts';

type Emission = { [K in DaemonEventName]: { name: K; payload: DaemonEventMap[K] } }[DaemonEventName];

const JOB_COLS = `id, kind, series_id AS seriesId, sink, payload, state, attempts, max_attempts AS maxAttempts,
  run_at AS runAt, lease_token AS leaseToken, lease_until AS leaseUntil, last_error AS lastError,
  last_code AS lastCode, last_stage AS lastStage, receipt, detail, created_at AS createdAt, updated_at AS updatedAt`;

/** Builds the job store over an open database. Statements are prepared once, here. */
export function createJobStore(db: Db, clock: Clock, opts: JobStoreOptions = {}): JobStore {
  const defaultLeaseMs = opts.leaseMs ?? 60_000;
  const maxAgeMs = opts.maxAgeMs;
  const node = opts.nodeId ?? null;
  const audit = createAuditLog(db);
  const q = {
    insert:
      db.prepare(`INSERT INTO jobs (kind, series_id, sink, max_attempts, run_at, created_at, updated_at, after_series_id)
      VALUES ('deliver', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, series_id, sink) DO NOTHING`),
    claim: db.prepare(`UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = @token,
        lease_until = @now + @leaseMs, lease_node = @node, updated_at = @now
      WHERE id = (SELECT id FROM jobs j WHERE state = 'queued' AND run_at <= @now
          AND sink NOT IN (SELECT value FROM json_each(@skip)) AND (after_series_id IS NULL
          OR NOT EXISTS (SELECT 1 FROM jobs d WHERE d.series_id = j.after_series_id AND d.sink = j.sink AND d.state IN ('queued', 'running')))
        ORDER BY run_at, id LIMIT 1)
      RETURNING ${JOB_COLS}`),
    running: db.prepare(`SELECT count(*) AS n FROM jobs WHERE series_id = ? AND state = 'running'`),
    redeliver: db.prepare(`UPDATE jobs SET state = 'queued', run_at = @now, attempts = 0, max_attempts = @maxAttempts,
        receipt = NULL, lease_token = NULL, lease_until = NULL, updated_at = @now
      WHERE series_id = @seriesId AND sink = @sink AND state IN ('queued', 'done', 'dead')`),
    attemptStart: db.prepare('INSERT INTO job_attempts (job_id, attempt, started_at) VALUES (?, ?, ?)'),
    attemptEnd: db.prepare(`UPDATE job_attempts SET finished_at = @now, outcome = @outcome, code = @code, error = @error
      WHERE job_id = @id AND finished_at IS NULL`),
    heartbeat: db.prepare(`UPDATE jobs SET lease_until = @until, updated_at = @now
      WHERE id = @id AND state = 'running' AND lease_token = @token`),
    // Every leased transition is fenced by (id, state, token): the compare-and-swap.
    done: db.prepare(`UPDATE jobs SET state = 'done', receipt = @receipt, detail = @detail, lease_token = NULL, lease_until = NULL,
        updated_at = @now WHERE id = @id AND state = 'running' AND lease_token = @token`),
    requeueLeased:
      db.prepare(`UPDATE jobs SET state = 'queued', run_at = @runAt, lease_token = NULL, lease_until = NULL,
        attempts = attempts - @refund, last_error = coalesce(@error, last_error), last_code = coalesce(@code, last_code),
        last_stage = coalesce(@stage, last_stage), detail = coalesce(@detail, detail), updated_at = @now
      WHERE id = @id AND state = 'running' AND lease_token = @token RETURNING ${JOB_COLS}`),
    dead: db.prepare(`UPDATE jobs SET state = 'dead', lease_token = NULL, lease_until = NULL, last_error = @error,
        last_code = @code, last_stage = @stage, detail = coalesce(@detail, detail), updated_at = @now
      WHERE id = @id AND state IN ('queued', 'running') AND (@token IS NULL OR lease_token = @token)
      RETURNING ${JOB_COLS}`),
    // Another node's running job is its own until its lease expires; after a restart, this node's are orphans.
    expired: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE state = 'running'
      AND ((@all AND (lease_node IS NULL OR lease_node = @node)) OR lease_until < @now)`),
    // Not for a batch whose originals were removed or discarded: there is nothing left to send.
    requeueAdmin: db.prepare(`UPDATE jobs SET state = 'queued', run_at = @now, attempts = 0, lease_token = NULL,
        lease_until = NULL, updated_at = @now WHERE id = @id AND state IN ('queued', 'dead')
        AND NOT EXISTS (SELECT 1 FROM spool_originals o WHERE o.series_id = jobs.series_id AND o.state <> 'retained')
      RETURNING ${JOB_COLS}`),
    get: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE id = ?`),
    list: db.prepare(`SELECT ${JOB_COLS} FROM jobs WHERE (@state IS NULL OR state = @state) ORDER BY id LIMIT @limit`),
    attempts: db.prepare(`SELECT id, job_id AS jobId, attempt, started_at AS startedAt, finished_at AS finishedAt,
      outcome, code, error FROM job_attempts WHERE job_id = ? ORDER BY id`),
    counts: db.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state'),
    ofSeries: db.prepare<[number], { id: number; state: JobState }>('SELECT id, state FROM jobs WHERE series_id = ?'),
    unfinished: db
      .prepare<[number], number>("SELECT count(*) FROM jobs WHERE series_id = ? AND state IN ('queued', 'running')")
      .pluck(),
    series: db.prepare('SELECT state, batch FROM series WHERE id = ?'),
    seriesJobs: db.prepare(`SELECT count(*) AS total, count(*) FILTER (WHERE state = 'done') AS done,
      count(*) FILTER (WHERE state = 'dead') AS dead FROM jobs WHERE series_id = ?`),
    seriesSet: db.prepare(`UPDATE series SET state = @to,
      delivered_at = CASE WHEN @to = 'delivered' THEN @now ELSE NULL END WHERE id = @id`),
  };

  /** Runs `fn` in one BEGIN IMMEDIATE transaction, then emits what it collected. */
  function tx<T>(fn: (out: Emission[]) => T): T {
    const out: Emission[] = [];
    const result = unitOfWork(db, () => fn(out));
    afterCommit(db, () => {
      for (const e of out) {
        opts.events?.emit(e.name, e.payload);
      }
    });
    return result;
  }

  /** Derives the series state from its jobs: any dead → failed; all done → delivered; else complete. */
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

  /** Kills a job (token null = any holder); writes the audit row and settles the series. */
  function markDead(
    id: number,
    token: string | null,
    f: JobFailure,
    outcome: AttemptOutcome,
    by: string,
    now: number,
    out: Emission[],
  ): Job | null {
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
  }

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
