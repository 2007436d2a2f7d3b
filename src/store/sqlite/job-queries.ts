//! The SQL of the delivery job store, prepared once per database.
// Every leased transition is fenced by (id, state, lease token): the compare-and-swap that keeps a
// worker which lost its lease from overwriting the verdict of the current holder.
import type { Db } from './db.ts';
import type { JobState } from '../jobs.ts';

/** A `jobs` row in the camelCase of Job. */
const JOB_COLS = `id, kind, series_id AS seriesId, sink, payload, state, attempts, max_attempts AS maxAttempts,
  run_at AS runAt, lease_token AS leaseToken, lease_until AS leaseUntil, last_error AS lastError,
  last_code AS lastCode, last_stage AS lastStage, receipt, detail, created_at AS createdAt, updated_at AS updatedAt`;

/** The job store's statements; `createJobStore` prepares them once. */
export function prepareJobQueries(db: Db) {
  return {
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
    // Fenced by (id, state, token): the compare-and-swap.
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
}

export type JobQueries = ReturnType<typeof prepareJobQueries>;
