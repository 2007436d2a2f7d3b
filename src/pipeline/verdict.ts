//! A job attempt's verdict (delivered, retry, dead) and how the worker records it in the job store.
// The attempt (attempt.ts) only decides; the store call that records the decision is made here, in
// one place, with what the verdict means for the sink's circuit breaker and the retry delay.
import type { Clock } from '../clock.ts';
import { ErrorCode, type Stage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { JobStore, LeasedJob } from '../store/jobs.ts';
import { backoffMs, type BackoffOptions } from '../resilience/backoff.ts';
import type { Breakers } from '../resilience/breaker.ts';
import type { Delivery, DeliveryDetail } from '../contracts/component.ts';

/** What the job body decided; the store call that records it is made in one place. */
export type Verdict =
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

/** What recording a verdict needs (a part of WorkerDeps). */
export interface RecorderDeps {
  readonly jobs: JobStore;
  readonly clock: Clock;
  /** Delay before a retry when the sink gives no `afterMs`. */
  readonly backoff: BackoffOptions;
  /** Per-sink circuit breakers; jobs of an open sink are not claimed (one probe at a time). */
  readonly breakers?: Breakers;
}

/** How often a verdict SQLite refused is offered again, in ms. */
const RECORD_RETRY_MS = 1000;

/**
 * The worker's recorder of verdicts: when SQLite refuses (a full disk: SQLITE_FULL), it tries again
 * every second until it succeeds. The job stays leased meanwhile (nobody else may take it); if the
 * daemon stops first, start-up recovery returns it to the queue.
 */
export function createRecorder(
  deps: RecorderDeps,
  /** Whether the worker is stopping: then a refused write is left to start-up recovery. */
  stopping: () => boolean,
): (job: LeasedJob, jlog: Logger, v: Verdict, leaseLost: boolean, interrupted: boolean) => Promise<void> {
  return async (job, jlog, v, leaseLost, interrupted) => {
    for (let tries = 0; ; tries++) {
      try {
        await record(deps, job, jlog, v, leaseLost, interrupted);
        if (tries > 0) {
          jlog.info({ tries }, 'Job outcome recorded after the database accepted writes again.');
        }
        return;
      } catch (err) {
        if (tries === 0) {
          jlog.error({ err }, 'Recording the job outcome failed; retrying until the database accepts it.');
        }
        if (stopping()) {
          jlog.error(
            { err },
            'Stopping before the job outcome could be recorded; the job is requeued at the next start.',
          );
          return;
        }
        await new Promise<void>((resolve) => deps.clock.setTimeout(resolve, RECORD_RETRY_MS));
      }
    }
  };
}

/** One try at recording `v`; rejects when SQLite refuses the write. */
async function record(
  deps: RecorderDeps,
  job: LeasedJob,
  jlog: Logger,
  v: Verdict,
  leaseLost: boolean,
  interrupted: boolean,
): Promise<void> {
  const { jobs, clock } = deps;
  if (leaseLost) {
    jlog.warn('Job lease was lost; its outcome is discarded.');
    return;
  }
  if (v.kind !== 'delivered' && interrupted) {
    if (await jobs.release(job, 'Stopped by shutdown.')) {
      jlog.info('Job released for shutdown.');
    }
    return;
  }
  let ok: boolean;
  const breakers = deps.breakers;
  if (v.kind === 'delivered') {
    breakers?.succeeded(job.sink);
    ok = await jobs.complete(job, v.receipt, v.detail);
    if (ok) {
      jlog.info({ receipt: v.receipt }, 'Job delivered.');
    }
  } else if (v.kind === 'dead') {
    // The sink answered (it refused this series): it is up, whatever the data's problem.
    if (v.outcome === 'rejected') {
      breakers?.succeeded(job.sink);
    }
    ok = await jobs.kill(job, v);
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
    const state = await jobs.retry(job, { ...v, runAt, refund: openUntil !== null || noSpace });
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

/** A sink's answer as a verdict: every expected outcome of `deliver`. */
export function fromDelivery(d: Delivery): Verdict {
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
