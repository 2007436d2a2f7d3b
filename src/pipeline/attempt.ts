//! One attempt of a delivery job: the batch's transformed copy, then the sink; every outcome becomes a verdict.
// Thrown or returned, expected or not: what happens here ends as a Verdict (verdict.ts), so the
// worker records every attempt the same way and no error escapes the job.
import { mkdir } from 'node:fs/promises';
import type { Clock } from '../clock.ts';
import { DaemonError, ErrorCode, describeError, type Stage } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { isDiskFull } from '../spool/disk-space.ts';
import type { LeasedJob } from '../store/jobs.ts';
import type { SeriesSnapshot } from '../contracts/series.ts';
import type { SpaceReservation } from '../contracts/intake.ts';
import type { JobContext, Sink } from '../contracts/component.ts';
import type { TransformOnce } from './transform-once.ts';
import { fromDelivery, type Verdict } from './verdict.ts';

/** What an attempt needs (a part of WorkerDeps). */
export interface AttemptDeps {
  readonly clock: Clock;
  /** Passed to components in their JobContext; job.* events themselves come from the job store. */
  readonly events: DaemonEvents;
  /** Sinks by id (the `sink` column of a job). */
  readonly sinks: ReadonlyMap<string, Sink>;
  readonly loadSnapshot: (seriesId: number) => Promise<SeriesSnapshot>;
  /** Parent of the per-attempt scratch directories `<jobId>-<attempt>`. */
  readonly workRoot: string;
  /**
   * Free space above the watermark (DiskSpace.reserve): the transforms' output in the work directory
   * is reserved before they run, and sinks reserve what they write locally. Absent: no accounting.
   */
  readonly reserveSpace?: (dir: string, bytes: number) => SpaceReservation | null;
}

/**
 * Runs transforms and the sink; turns every outcome, thrown or returned, into a verdict. The space
 * reservations taken go into `held`: the worker releases them once the work directory is removed.
 */
export async function attemptJob(
  deps: AttemptDeps,
  transformed: TransformOnce,
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
    const original = await deps.loadSnapshot(job.seriesId);
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    const ctx: JobContext = {
      log: jlog,
      clock: deps.clock,
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
