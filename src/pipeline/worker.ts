//! The delivery worker: leases due jobs from SQLite, gets the batch's transformed copy (made once per batch), runs the sink, records the verdict.
// SQLite is the source of truth; p-queue only caps how many leased jobs run at once. Anything lost
// from memory (crash) comes back through lease expiry / recoverAfterRestart. One attempt is
// attempt.ts; what it decided is recorded by verdict.ts.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { DaemonError, ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { LeasedJob } from '../store/jobs.ts';
import type { SpaceReservation } from '../contracts/intake.ts';
import type { Transform } from '../contracts/component.ts';
import { attemptJob, type AttemptDeps } from './attempt.ts';
import { createTransformOnce } from './transform-once.ts';
import { createRecorder, type RecorderDeps } from './verdict.ts';

export interface WorkerDeps extends AttemptDeps, RecorderDeps {
  readonly log: Logger;
  /** Jobs run at once. */
  readonly concurrency: number;
  /** Lease length, in ms; the lease is renewed every leaseMs/3 while the job runs. */
  readonly leaseMs: number;
  /** How often to look for due jobs when not woken by `notify()`, in ms. */
  readonly pollIntervalMs: number;
  /** Applied in order, once per series batch (transform-once.ts); every sink job of the batch reads the result. */
  readonly transforms: readonly Transform[];
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
  // One claim loop at a time: two would each see the same free slot and lease a job for it.
  let pumping: Promise<void> | null = null;
  let pumpAgain = false;
  const transformed = createTransformOnce({ workRoot: deps.workRoot, transforms: deps.transforms });
  // A function, not the flag itself: it is read again after an await, when stop() may have set it.
  const isStopping = (): boolean => stopping;
  const recordSoon = createRecorder(deps, isStopping);
  // The batch's transformed copy goes with its last job; the check runs before the verdict is
  // recorded (the other jobs are finished) and after it (two last jobs finishing together).
  const finishedBatch = async (job: LeasedJob, others: number): Promise<boolean> => {
    try {
      return (await jobs.unfinished(job.seriesId)) <= others;
    } catch (err) {
      log.warn({ err, seriesId: job.seriesId }, 'Counting the unfinished jobs of a series failed.');
      return false;
    }
  };

  /** Claims while there is room, then sleeps until the next poll (or `notify`). */
  function pump(): void {
    if (pumping) {
      // The running loop may already have looked at what this wake-up is about: it goes round again.
      pumpAgain = true;
      return;
    }
    pumping = claimWhileRoom()
      .catch((err: unknown) => {
        // claimWhileRoom() handles its own errors; this is only a backstop against an unhandled rejection.
        log.error({ err }, 'Claiming jobs failed unexpectedly.');
      })
      .finally(() => {
        pumping = null;
        if (pumpAgain) {
          pumpAgain = false;
          pump();
        }
      });
  }

  async function claimWhileRoom(): Promise<void> {
    poll?.cancel();
    poll = null;
    if (!started || stopping) {
      return;
    }
    // The next poll is set before the claims, as they wait on the database: a wake-up while they
    // run (this timer, notify, a finished job) makes the loop go round once more.
    poll = clock.setTimeout(pump, deps.pollIntervalMs);
    while (inflight < deps.concurrency) {
      let job: LeasedJob | null;
      try {
        job = await jobs.claim(clock.now(), deps.leaseMs, deps.breakers?.blocked() ?? []);
      } catch (err) {
        log.error({ err }, 'Claiming a job failed.');
        break;
      }
      if (!job) {
        break;
      }
      if (isStopping()) {
        // Stopped while the claim was on its way: the job has not started, so it goes back at once.
        await giveBack(job);
        return;
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
  }

  /** Returns a job claimed as the worker stops; if that fails, start-up recovery requeues it. */
  async function giveBack(job: LeasedJob): Promise<void> {
    try {
      await jobs.release(job, 'Stopped by shutdown.');
    } catch (err) {
      log.error(
        { err, jobId: job.id },
        'Giving back a job claimed at shutdown failed; it is requeued at the next start.',
      );
    }
  }

  async function run(job: LeasedJob): Promise<void> {
    const jlog = log.child({ jobId: job.id, seriesId: job.seriesId, sink: job.sink, attempt: job.attempt });
    const controller = new AbortController();
    controllers.add(controller);
    let leaseLost = false;
    let heartbeat: { cancel(): void };
    // Cleared when the heartbeat is cancelled: a renewal still on its way then schedules no next one.
    let beating = true;
    const beat = async (): Promise<void> => {
      try {
        const renewed = await jobs.heartbeat(job);
        if (!beating) {
          return;
        }
        leaseLost = !renewed;
      } catch (err) {
        jlog.warn({ err }, 'Renewing the job lease failed.');
      }
      if (!beating) {
        return;
      }
      if (leaseLost) {
        controller.abort(
          new DaemonError(ErrorCode.JOB_LEASE_LOST, 'Job lease lost.', { stage: 'sending', retryable: true }),
        );
      } else {
        heartbeat = clock.setTimeout(beatSoon, Math.max(1, Math.floor(deps.leaseMs / 3)));
      }
    };
    // beat() handles its own errors; the catch is only a backstop against an unhandled rejection.
    const beatSoon = (): void => {
      beat().catch((err: unknown) => {
        jlog.error({ err }, 'Renewing the job lease failed unexpectedly.');
      });
    };
    const stopBeating = (): void => {
      beating = false;
      heartbeat.cancel();
    };
    heartbeat = clock.setTimeout(beatSoon, Math.max(1, Math.floor(deps.leaseMs / 3)));
    const workDir = join(deps.workRoot, `${String(job.id)}-${String(job.attempt)}`);
    const held: SpaceReservation[] = [];
    const removeWorkDir = (): Promise<void> =>
      rm(workDir, { recursive: true, force: true }).catch((err: unknown) => {
        jlog.warn({ err }, 'Removing the job work directory failed.');
      });
    try {
      const verdict = await attemptJob(deps, transformed, job, jlog, workDir, controller.signal, held);
      // Before the verdict: a job recorded as finished has no (possibly identifiable) work copy left.
      await removeWorkDir();
      const final = verdict.kind !== 'retry' && !leaseLost;
      if (final && (await finishedBatch(job, 1))) {
        await transformed.discard(job.seriesId);
      }
      stopBeating();
      await recordSoon(job, jlog, verdict, leaseLost, stopping && controller.signal.aborted);
      if (final && (await finishedBatch(job, 0))) {
        await transformed.discard(job.seriesId);
      }
    } finally {
      stopBeating();
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
      // A claim on its way ends first: its job is given back, or queued and waited for below.
      await pumping;
      await Promise.race([queue.onIdle(), timedOut]);
      // Aborted jobs still record their verdict (or release) before we report stopped.
      await queue.onIdle();
      (deadline as { cancel(): void } | null)?.cancel();
    },
    async onIdle() {
      // Claims are asynchronous: a finished job's pump() may still be claiming the next one when
      // the queue empties. Idle is no claim on its way and no job queued or running, both at once.
      for (;;) {
        await pumping;
        await queue.onIdle();
        if (!pumping && queue.size === 0 && queue.pending === 0) {
          return;
        }
      }
    },
    transformRuns: () => transformed.runs(),
    get active() {
      return inflight;
    },
  };
}
