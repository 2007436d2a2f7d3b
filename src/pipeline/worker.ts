//! The delivery worker: leases due jobs from SQLite, gets the batch's transformed copy (made once per batch), runs the sink, records the verdict.
// SQLite is the source of truth; p-queue only caps how many leased jobs run at once. Anything lost
// from memory (crash) comes back through lease expiry / recoverAfterRestart.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import type { Clock } from '../clock.ts';
import { DaemonError, ErrorCode, describeError, type Stage } from '../errors.ts';
import { isDiskFull } from '../spool/disk-space.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { JobStore, LeasedJob } from '../store/jobs.ts';
import type { SeriesSnapshot } from '../contracts/series.ts';
import type { SpaceReservation } from '../contracts/intake.ts';
import { backoffMs, type BackoffOptions } from '../resilience/backoff.ts';
import { createTransformOnce } from './transform-once.ts';
import type { Breakers } from '../resilience/breaker.ts';
import type { Delivery, DeliveryDetail, JobContext, Sink, Transform } from '../contracts/component.ts';

export interface WorkerDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  /** Passed to components in their JobContext; job.* events themselves come from the job store. */
  readonly events: DaemonEvents;
  readonly log: Logger;
  /** Jobs run at once. */
  readonly concurrency: number;
  /** Lease length, in ms; the lease is renewed every leaseMs/3 while the job runs. */
  readonly leaseMs: number;
  /** How often to look for due jobs when not woken by `notify()`, in ms. */
  readonly pollIntervalMs: number;
  /** Sinks by id (the `sink` column of a job). */
  readonly sinks: ReadonlyMap<string, Sink>;
  /** Applied in order, once per series batch (transform-once.ts); every sink job of the batch reads the result. */
  readonly transforms: readonly Transform[];
  readonly loadSnapshot: (seriesId: number) => SeriesSnapshot;
  /** Parent of the per-attempt scratch directories `<jobId>-<attempt>`. */
  readonly workRoot: string;
  /** Delay before a retry when the sink gives no `afterMs`. */
  readonly backoff: BackoffOptions;
  /** Per-sink circuit breakers; jobs of an open sink are not claimed (one probe at a time). */
  readonly breakers?: Breakers;
  /**
   * Free space above the watermark (DiskSpace.reserve): the transforms' output in the work directory
   * is reserved before they run, and sinks reserve what they write locally. Absent: no accounting.
   */
  readonly reserveSpace?: (dir: string, bytes: number) => SpaceReservation | null;
}

export interface Worker {
  start(): void;
  /** Claim now instead of at the next poll (call after enqueueing). */
  notify(): void;
  /**
   * Stops claiming and waits for running jobs. After `deadlineMs` their signals are aborted; a job
   * that then ends without being delivered is released to 'queued' and its attempt refunded
   * (see JobStore.release). Never rejects.
   */
  stop(o: { deadlineMs: number }): Promise<void>;
  /** Resolves when no job is running (tests, status). */
  onIdle(): Promise<void>;
  /** Jobs running now. */
  readonly active: number;
  /** How many times the transforms ran (once per series batch, not per sink job). */
  readonly transformRuns: () => number;
}

/** What the job body decided; the store call that records it is made in one place. */
type Verdict =
  | { kind: 'delivered'; receipt: string; detail?: DeliveryDetail | undefined }
  | {
      kind: 'retry';
      code: ErrorCode;
      stage: Stage;
      error: string;
      afterMs?: number;
      outcome: 'retry' | 'error';
      detail?: DeliveryDetail | undefined;
      sinkFault?: 'unavailable' | 'auth' | undefined;
    }
  | {
      kind: 'dead';
      code: ErrorCode;
      stage: Stage;
      error: string;
      outcome: 'rejected' | 'error';
      detail?: DeliveryDetail | undefined;
    };

/** How often a verdict SQLite refused is offered again, in ms. */
const RECORD_RETRY_MS = 1000;

/** Builds the worker; nothing runs until `start()`. */
export function createWorker(deps: WorkerDeps): Worker {
  const { jobs, clock, log } = deps;
  const queue = new PQueue({ concurrency: deps.concurrency });
  const controllers = new Set<AbortController>();
  // Our own count, not p-queue's: a finishing job calls pump() before p-queue frees its slot.
  let inflight = 0;
  let started = false;
  let stopping = false;
  let poll: { cancel(): void } | null = null;
  const transformed = createTransformOnce({ workRoot: deps.workRoot, transforms: deps.transforms });
  // The batch's transformed copy goes with its last job; the check runs before the verdict is
  // recorded (the other jobs are finished) and after it (two last jobs finishing together).
  const finishedBatch = (job: LeasedJob, others: number): boolean => {
    try {
      return jobs.unfinished(job.seriesId) <= others;
    } catch (err) {
      log.warn({ err, seriesId: job.seriesId }, 'Counting the unfinished jobs of a series failed.');
      return false;
    }
  };

  /** Claims while there is room, then sleeps until the next poll (or `notify`). */
  function pump(): void {
    poll?.cancel();
    poll = null;
    if (!started || stopping) {
      return;
    }
    while (inflight < deps.concurrency) {
      let job: LeasedJob | null;
      try {
        job = jobs.claim(clock.now(), deps.leaseMs, deps.breakers?.blocked() ?? []);
      } catch (err) {
        log.error({ err }, 'Claiming a job failed.');
        break;
      }
      if (!job) {
        break;
      }
      deps.breakers?.claimed(job.sink);
      const leased = job;
      inflight++;
      queue
        .add(() => run(leased))
        .catch((err: unknown) => {
          // run() handles its own errors; this is only a backstop against an unhandled rejection.
          log.error({ err, jobId: leased.id }, 'Job runner failed unexpectedly.');
        });
    }
    poll = clock.setTimeout(pump, deps.pollIntervalMs);
  }

  async function run(job: LeasedJob): Promise<void> {
    const jlog = log.child({ jobId: job.id, seriesId: job.seriesId, sink: job.sink, attempt: job.attempt });
    const controller = new AbortController();
    controllers.add(controller);
    let leaseLost = false;
    let heartbeat: { cancel(): void };
    const beat = (): void => {
      try {
        leaseLost = !jobs.heartbeat(job);
      } catch (err) {
        jlog.warn({ err }, 'Renewing the job lease failed.');
      }
      if (leaseLost) {
        controller.abort(
          new DaemonError(ErrorCode.JOB_LEASE_LOST, 'Job lease lost.', { stage: 'sending', retryable: true }),
        );
      } else {
        heartbeat = clock.setTimeout(beat, Math.max(1, Math.floor(deps.leaseMs / 3)));
      }
    };
    heartbeat = clock.setTimeout(beat, Math.max(1, Math.floor(deps.leaseMs / 3)));
    const workDir = join(deps.workRoot, `${String(job.id)}-${String(job.attempt)}`);
    const held: SpaceReservation[] = [];
    const removeWorkDir = (): Promise<void> =>
      rm(workDir, { recursive: true, force: true }).catch((err: unknown) => {
        jlog.warn({ err }, 'Removing the job work directory failed.');
      });
    try {
      const verdict = await attempt(job, jlog, workDir, controller.signal, held);
      // Before the verdict: a job recorded as finished has no (possibly identifiable) work copy left.
      await removeWorkDir();
      const final = verdict.kind !== 'retry' && !leaseLost;
      if (final && finishedBatch(job, 1)) {
        await transformed.discard(job.seriesId);
      }
      heartbeat.cancel();
      await recordSoon(job, jlog, verdict, leaseLost, stopping && controller.signal.aborted);
      if (final && finishedBatch(job, 0)) {
        await transformed.discard(job.seriesId);
      }
    } finally {
      heartbeat.cancel();
      controllers.delete(controller);
      // On every path, and before the slot and its space are given back.
      await removeWorkDir();
      for (const r of held) {
        r.release();
      }
      inflight--;
      // A slot is free: look for the next job now rather than at the next poll.
      pump();
    }
  }

  /**
   * Records the verdict; when SQLite refuses (a full disk: SQLITE_FULL), tries again every second
   * until it succeeds. The job stays leased meanwhile (nobody else may take it); if the daemon stops
   * first, start-up recovery returns it to the queue.
   */
  async function recordSoon(
    job: LeasedJob,
    jlog: Logger,
    v: Verdict,
    leaseLost: boolean,
    interrupted: boolean,
  ): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        record(job, jlog, v, leaseLost, interrupted);
        if (tries > 0) {
          jlog.info({ tries }, 'Job outcome recorded after the database accepted writes again.');
        }
        return;
      } catch (err) {
        if (tries === 0) {
          jlog.error({ err }, 'Recording the job outcome failed; retrying until the database accepts it.');
        }
        if (stopping) {
          jlog.error(
            { err },
            'Stopping before the job outcome could be recorded; the job is requeued at the next start.',
          );
          return;
        }
        await new Promise<void>((resolve) => clock.setTimeout(resolve, RECORD_RETRY_MS));
      }
    }
  }

  /** Runs transforms and the sink; turns every outcome, thrown or returned, into a verdict. */
  async function attempt(
    job: LeasedJob,
    jlog: Logger,
    workDir: string,
    signal: AbortSignal,
    held: SpaceReservation[],
  ): Promise<Verdict> {
    let stage: Stage = 'starting';
    const reserveSpace = deps.reserveSpace;
    const reserve = reserveSpace
      ? (dir: string, bytes: number): boolean => {
          const r = reserveSpace(dir, bytes);
          if (r) {
            held.push(r);
          }
          return r !== null;
        }
      : undefined;
    try {
      const sink = deps.sinks.get(job.sink);
      if (!sink) {
        return {
          kind: 'dead',
          code: ErrorCode.CONFIG_INVALID,
          stage,
          error: `No sink "${job.sink}" is configured.`,
          outcome: 'rejected',
        };
      }
      stage = 'assembling';
      const original = deps.loadSnapshot(job.seriesId);
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      const ctx: JobContext = {
        log: jlog,
        clock,
        events: deps.events,
        jobId: job.id,
        attempt: job.attempt,
        workDir,
        signal,
        ...(reserve ? { reserveSpace: reserve } : {}),
      };
      stage = 'transforming';
      // The transforms write a de-identified copy of the batch into the work directory, once for
      // all its sinks; its space is taken before the first byte (the spool needs the disk).
      const snapshot = await transformed.get(
        original,
        ctx,
        reserve ? (bytes) => reserve(deps.workRoot, bytes) : undefined,
      );
      if (snapshot === 'no-space') {
        const bytes = original.instances.reduce((n, i) => n + i.size, 0);
        return {
          kind: 'retry',
          code: ErrorCode.SPOOL_FULL,
          stage: 'assembling',
          error: `Not enough free space above the watermark for the ${String(bytes)} B work copy of this series.`,
          outcome: 'error',
        };
      }
      stage = 'sending';
      return fromDelivery(await sink.deliver(snapshot, ctx));
    } catch (err) {
      const error = describeError(err);
      if (err instanceof DaemonError) {
        const base = { code: err.code, stage: err.stage, error, outcome: 'error' as const };
        return err.retryable ? { kind: 'retry', ...base } : { kind: 'dead', ...base };
      }
      // Someone else filled the disk after all: wait for space, as for a refused reservation.
      if (isDiskFull(err)) {
        return { kind: 'retry', code: ErrorCode.SPOOL_FULL, stage, error, outcome: 'error' };
      }
      // Unforeseen throw: a bug or an odd environment; retry until attempts run out (graphile).
      return { kind: 'retry', code: ErrorCode.JOB_UNEXPECTED, stage, error, outcome: 'error' };
    }
  }

  function record(job: LeasedJob, jlog: Logger, v: Verdict, leaseLost: boolean, interrupted: boolean): void {
    if (leaseLost) {
      jlog.warn('Job lease was lost; its outcome is discarded.');
      return;
    }
    if (v.kind !== 'delivered' && interrupted) {
      if (jobs.release(job, 'Stopped by shutdown.')) {
        jlog.info('Job released for shutdown.');
      }
      return;
    }
    let ok: boolean;
    const breakers = deps.breakers;
    if (v.kind === 'delivered') {
      breakers?.succeeded(job.sink);
      ok = jobs.complete(job, v.receipt, v.detail);
      if (ok) {
        jlog.info({ receipt: v.receipt }, 'Job delivered.');
      }
    } else if (v.kind === 'dead') {
      // The sink answered (it refused this series): it is up, whatever the data's problem.
      if (v.outcome === 'rejected') {
        breakers?.succeeded(job.sink);
      }
      ok = jobs.kill(job, v);
      if (ok) {
        jlog.error({ code: v.code, stage: v.stage, error: v.error }, 'Job failed.');
      }
    } else {
      if (v.sinkFault) {
        breakers?.failed(job.sink, { code: v.code, error: v.error, trip: v.sinkFault === 'auth' });
      }
      // While the sink's circuit is open the job waits for the probe, and the attempt is given back.
      const openUntil = v.sinkFault ? (breakers?.retryAt(job.sink) ?? null) : null;
      // A full disk is not the series' fault either: the attempt is given back and the job waits a
      // first-retry delay (not a growing one), so it runs again soon after space returns.
      const noSpace = v.code === ErrorCode.SPOOL_FULL;
      const delay = v.afterMs ?? backoffMs(noSpace ? 1 : job.attempt, deps.backoff);
      const runAt = Math.max(clock.now() + delay, openUntil ?? 0);
      const state = jobs.retry(job, { ...v, runAt, refund: openUntil !== null || noSpace });
      ok = state !== 'lost';
      if (state === 'queued') {
        jlog.warn({ code: v.code, stage: v.stage, error: v.error, runAt }, 'Job will be retried.');
      }
      if (state === 'dead') {
        jlog.error({ code: v.code, stage: v.stage, error: v.error }, 'Job failed after its last attempt.');
      }
    }
    if (!ok) {
      jlog.warn('Job lease was lost before its outcome was recorded.');
    }
  }

  return {
    start() {
      if (started) {
        return;
      }
      started = true;
      pump();
    },
    notify: pump,
    async stop({ deadlineMs }) {
      stopping = true;
      poll?.cancel();
      poll = null;
      let deadline: { cancel(): void } | null = null;
      const timedOut = new Promise<void>((resolve) => {
        deadline = clock.setTimeout(() => {
          for (const c of controllers) {
            c.abort(new DaemonError(ErrorCode.SHUTTING_DOWN, 'Shutting down.', { stage: 'sending', retryable: true }));
          }
          resolve();
        }, deadlineMs);
      });
      await Promise.race([queue.onIdle(), timedOut]);
      // Aborted jobs still record their verdict (or release) before we report stopped.
      await queue.onIdle();
      (deadline as { cancel(): void } | null)?.cancel();
    },
    onIdle: () => queue.onIdle(),
    transformRuns: () => transformed.runs(),
    get active() {
      return inflight;
    },
  };
}

function fromDelivery(d: Delivery): Verdict {
  switch (d.outcome) {
    case 'delivered':
      return { kind: 'delivered', receipt: d.receipt, detail: d.detail };
    case 'retry':
      return {
        kind: 'retry',
        code: d.code ?? ErrorCode.SINK_RETRY,
        stage: 'sending',
        error: d.reason,
        outcome: 'retry',
        detail: d.detail,
        sinkFault: d.sinkFault,
        ...(d.afterMs === undefined ? {} : { afterMs: d.afterMs }),
      };
    case 'rejected':
      return { kind: 'dead', code: d.code, stage: 'sending', error: d.reason, outcome: 'rejected', detail: d.detail };
  }
}
