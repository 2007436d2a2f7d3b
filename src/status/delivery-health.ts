//! Delivery health: "degraded" while jobs keep failing for a reason no retry can fix.
// Readiness (/readyz) answers whether the gateway can *receive*; a load balancer must keep sending
// scans while delivery is broken (they are safe in the spool). This says whether what was received
// can leave: a thrown error of an unexpected class (a bug, a module missing from the install),
// refused credentials, a project XNAT does not let us write, a key or script that cannot load, a
// folder sink that cannot write. Retrying does not cure these; an administrator must act.
import type { Clock } from '../clock.ts';
import { ErrorCode } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';

/** Codes whose failures need an administrator, not time. */
export const UNFIXABLE_BY_RETRY: ReadonlySet<string> = new Set([
  ErrorCode.JOB_UNEXPECTED,
  ErrorCode.JOB_PAYLOAD,
  ErrorCode.XNAT_AUTH,
  ErrorCode.XNAT_PROJECT,
  ErrorCode.ANON_KEY,
  ErrorCode.ANON_SCRIPT,
  ErrorCode.SINK_WRITE,
]);

/** One reason delivery is degraded: the latest such failure of one sink's jobs. */
export interface DegradedReason {
  readonly sink: string;
  readonly code: string;
  readonly stage: string;
  /** The job's error (PHI-free: the `last_error` text). */
  readonly error: string | null;
  /** First such failure since the sink last delivered (epoch ms). */
  readonly since: number;
  /** Failed attempts with such a code since then. */
  readonly failures: number;
}

export interface DeliveryHealth {
  /** `ok`, or `degraded` with one reason per affected sink. */
  status(): { status: 'ok' | 'degraded'; reasons: readonly DegradedReason[] };
  close(): void;
}

/**
 * Follows job outcomes: a retrying or dead job with a code in UNFIXABLE_BY_RETRY marks its sink
 * degraded; the sink's next successful delivery clears it (the administrator fixed the cause).
 */
export function createDeliveryHealth(events: DaemonEvents, clock: Clock): DeliveryHealth {
  const bySink = new Map<string, DegradedReason>();
  const onFailure = (e: { sink: string; code: string; stage: string; error?: string | undefined }): void => {
    if (!UNFIXABLE_BY_RETRY.has(e.code)) {
      return;
    }
    const prev = bySink.get(e.sink);
    bySink.set(e.sink, {
      sink: e.sink,
      code: e.code,
      stage: e.stage,
      error: e.error ?? null,
      since: prev?.since ?? clock.now(),
      failures: (prev?.failures ?? 0) + 1,
    });
  };
  const off = [
    events.on('job.retrying', onFailure),
    events.on('job.failed', onFailure),
    events.on('job.succeeded', (e) => {
      bySink.delete(e.sink);
    }),
  ];
  return {
    status() {
      const reasons = [...bySink.values()].sort((a, b) => a.sink.localeCompare(b.sink));
      return { status: reasons.length ? 'degraded' : 'ok', reasons };
    },
    close() {
      for (const f of off) {
        f();
      }
    },
  };
}
