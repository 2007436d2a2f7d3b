//! The delivery job store's contract: `jobs` and `job_attempts` rows, leases, and what the store offers.
// Kept apart from the implementation (jobs.ts) so the worker, router, CLI and status code can read
// the shapes without the SQL.
import { z } from 'zod';
import type { ErrorCode, Stage } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';
import type { DeliveryDetail } from '../contracts/component.ts';

export type JobState = 'queued' | 'running' | 'done' | 'dead';
export type AttemptOutcome = 'delivered' | 'retry' | 'rejected' | 'error' | 'lease-expired';

/** A `jobs` row in camelCase. Times are epoch ms. */
export interface Job {
  readonly id: number;
  readonly kind: 'deliver';
  readonly seriesId: number;
  readonly sink: string;
  readonly payload: string;
  readonly state: JobState;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly runAt: number;
  readonly leaseToken: string | null;
  readonly leaseUntil: number | null;
  readonly lastError: string | null;
  readonly lastCode: string | null;
  readonly lastStage: string | null;
  readonly receipt: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** JSON DeliveryDetail of the last outcome (XNAT status, counts, message), or null. */
  readonly detail: string | null;
}

/** A `job_attempts` row: one per lease taken. */
export interface JobAttempt {
  readonly id: number;
  readonly jobId: number;
  readonly attempt: number;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly outcome: AttemptOutcome | null;
  readonly code: string | null;
  readonly error: string | null;
}

/** The payload of a deliver job: empty today; strict so a corrupt row is caught on lease. */
export const deliverPayload = z.strictObject({});
export type DeliverPayload = z.infer<typeof deliverPayload>;

/** A job this process holds a lease on. `attempt` is 1 for the first run. */
export interface LeasedJob {
  readonly id: number;
  readonly seriesId: number;
  readonly sink: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** `startedAt`: the claim, epoch ms; `leaseMs`: lease length, renewed by each heartbeat. */
  readonly leaseToken: string;
  readonly leaseMs: number;
  readonly startedAt: number;
  readonly payload: DeliverPayload;
  /** When the job was first queued (maximum age). */
  readonly createdAt: number;
}

/** Why an attempt ended badly: recorded in last_code / last_stage / last_error and job_attempts. */
export interface JobFailure {
  readonly code: ErrorCode;
  readonly stage: Stage;
  readonly error: string;
  readonly detail?: DeliveryDetail | undefined;
}

export interface JobStoreOptions {
  /** Lease length used when `claim` is not given one, in ms. Default 60 000. */
  readonly leaseMs?: number;
  /** A job still failing this long after it was queued goes dead (ERR_JOB_TOO_OLD), attempts or not. */
  readonly maxAgeMs?: number;
  /** Where job.* and series.state events go; omit in one-shot CLI commands. */
  readonly events?: DaemonEvents;
  /** This gateway's node id, recorded on each lease it takes: `releaseOrphans` frees only its own. */
  readonly nodeId?: string;
}

export interface JobStore {
  /** One queued job per sink, run now; existing (series, sink) jobs are left alone. Safe inside
   *  an outer transaction (becomes a savepoint). Returns the number of jobs created. With
   *  `afterSeriesId`, each job is claimed only once that series' job for the same sink finished
   *  (an RT object after its images). */
  enqueueDeliveries(
    seriesId: number,
    sinks: readonly string[],
    maxAttempts: number,
    o?: { afterSeriesId?: number | null },
  ): Promise<number>;
  /** A released series goes out again: its jobs for `sinks` are queued afresh (attempts reset,
   *  receipt cleared; missing ones created). Refuses (returns null) while one of its jobs runs. */
  redeliver(seriesId: number, sinks: readonly string[], maxAttempts: number): Promise<number | null>;
  /** Leases the next due job (BEGIN IMMEDIATE); a job with an invalid payload is killed with
   *  ERR_JOB_PAYLOAD and the next one is tried. Null when nothing is due. */
  claim(now?: number, leaseMs?: number, skipSinks?: readonly string[]): Promise<LeasedJob | null>;
  /** Extends the lease by `job.leaseMs`; false when the lease was lost (reaped, failed by operator). */
  heartbeat(job: LeasedJob): Promise<boolean>;
  /** Marks the job done; the series becomes 'delivered' once all its jobs are. False if lease lost. */
  complete(job: LeasedJob, receipt: string, detail?: DeliveryDetail): Promise<boolean>;
  /** Requeues at `runAt` (epoch ms), or kills the job when its attempts are used up or it is older than
   *  maxAgeMs. `refund`: the attempt does not count (its sink was down, not the series at fault). */
  retry(
    job: LeasedJob,
    f: JobFailure & { runAt: number; outcome?: 'retry' | 'error'; refund?: boolean },
  ): Promise<'queued' | 'dead' | 'lost'>;
  /** Marks the job dead (no more attempts) and its series 'failed'. False if lease lost. */
  kill(job: LeasedJob, f: JobFailure & { outcome?: 'rejected' | 'error' }): Promise<boolean>;
  /** Gives a lease back at shutdown: queued now, and the interrupted attempt is refunded (the
   *  sink did not fail, we stopped it), so restarts never use up a job's attempts. */
  release(job: LeasedJob, reason: string): Promise<boolean>;
  /** Requeues running jobs whose lease ended before `now`; jobs out of attempts go dead. */
  reapExpired(now?: number): Promise<number>;
  /** After a restart no worker survives: returns every running job to the queue (or dead when out of
   *  attempts — a job that keeps crashing the daemon must not loop forever). */
  releaseOrphans(now?: number): Promise<number>;
  /** Operator: a dead or queued job runs again now with attempts reset. Null if not requeueable. */
  requeue(jobId: number, by?: string): Promise<Job | null>;
  /** Operator: a queued or running job goes dead with `reason`. Null if not found or finished. */
  failNow(jobId: number, reason: string): Promise<Job | null>;
  list(o: { state?: JobState; limit: number }): Promise<Job[]>;
  get(id: number): Promise<Job | undefined>;
  attempts(jobId: number): Promise<JobAttempt[]>;
  /** Number of jobs per state. */ counts(): Promise<Record<JobState, number>>;
  /** Every job of this series batch (one per sink): id and state. */
  ofSeries(seriesId: number): Promise<{ id: number; state: JobState }[]>;
  /** Jobs of this series batch still to finish (queued or running). */
  unfinished(seriesId: number): Promise<number>;
}
