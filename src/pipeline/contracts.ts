//! The only core types a component (source, transform, sink) imports.
import type { Clock } from '../clock.ts';
import type { ErrorCode } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { SeriesSnapshot } from '../series/types.ts';
import type { Admission, IncomingInstance, IncomingMeta, IngestResult } from '../spool/types.ts';

export type { Clock, DaemonEvents, Logger, SeriesSnapshot, Admission, IncomingInstance, IncomingMeta, IngestResult };

export interface ComponentContext {
  readonly log: Logger;
  readonly clock: Clock;
  readonly events: DaemonEvents;
}

/**
 * What a source is given to hand instances over. Sources never import spool or queue: the only
 * way to get a Success for the sender is `IncomingInstance.finish()` resolving ok, which happens
 * after fsync + rename + directory fsync + SQLite commit.
 */
export interface Intake {
  /** Back-pressure check: disk below the watermark, or too much undelivered work. */
  admission(): Admission;
  /** Records an association (or drop) as open; its series stay 'receiving' until it closes. */
  openAssociation(a: { source: IncomingMeta['source']; callingAe: string; calledAe: string; peerIp: string }): string;
  closeAssociation(uid: string, outcome: 'released' | 'aborted' | 'dropped'): void;
  /** Opens a temp spool file for one instance. */
  begin(meta: IncomingMeta): IncomingInstance;
}

export interface Source {
  readonly id: string;
  start(intake: Intake): Promise<void>;
  /** Refuse new input, let in-flight ingests settle, release ports and watchers. */
  stop(): Promise<void>;
}

export interface JobContext extends ComponentContext {
  readonly jobId: number;
  readonly attempt: number;
  /** Scratch directory for this job; removed after the job ends. */
  readonly workDir: string;
  readonly signal: AbortSignal;
}

export interface Transform {
  readonly id: string;
  /** Reads input files and writes new ones under ctx.workDir; never edits the spool. */
  apply(series: SeriesSnapshot, ctx: JobContext): Promise<SeriesSnapshot>;
}

export type Delivery =
  | { readonly outcome: 'delivered'; readonly receipt: string }
  | { readonly outcome: 'retry'; readonly reason: string; readonly afterMs?: number }
  | { readonly outcome: 'rejected'; readonly code: ErrorCode; readonly reason: string };

export interface Sink {
  readonly id: string;
  /** Cheap reachability probe: at start-up and in `check-config`. */
  healthcheck(signal: AbortSignal): Promise<void>;
  deliver(series: SeriesSnapshot, ctx: JobContext): Promise<Delivery>;
}
