//! The retrieve step of a row: C-MOVE or C-GET what is still missing, then wait for it to arrive and judge.
// What the PACS says about its sub-operations is only a claim: the verdict is what arrived,
// counted per series against the C-FIND counts. A C-MOVE answered Success whose instances never
// come (DQR's PLUGINS-323) is therefore an incomplete retrieve like any other, with its own code
// and words, and it is retried, never left in progress. A study already complete (a restart after
// the instances arrived) is not fetched again; a retry asks only for the incomplete series.
import type { Clock } from '../../clock.ts';
import { ErrorCode } from '../../errors.ts';
import type { QrClient, RetrieveProgress, RetrieveResult } from '../../dicom/qr/api.ts';
import type { QrLevel } from '../../dicom/qr/sop-classes.ts';
import { describeQrStatus, QrStatus } from '../../dicom/qr/status.ts';
import type { PacsConfig } from './config.ts';
import type { SeriesRecord } from '../../contracts/pull-ledger.ts';
import type { RetrieveTarget } from './ports.ts';

export type RetrieveVerdict =
  | {
      readonly kind: 'complete';
      readonly received: ReadonlyMap<string, number>;
      readonly result: RetrieveResult | null;
      readonly fetched: boolean;
    }
  | {
      readonly kind: 'incomplete';
      readonly received: ReadonlyMap<string, number>;
      readonly result: RetrieveResult | null;
      readonly code: ErrorCode;
      readonly reason: string;
      /** The PACS itself failed (out of resources): counts towards its circuit breaker, not the row's attempts. */
      readonly pacsFault: boolean;
      /** The PACS does not know our move destination: every row of this PACS will fail alike. */
      readonly destinationUnknown: boolean;
    };

export interface RetrieveDeps {
  readonly client: QrClient;
  readonly pacs: PacsConfig;
  readonly target: RetrieveTarget;
  readonly clock: Clock;
  readonly arrivalTimeoutMs: number;
  readonly arrivalPollMs: number;
  readonly signal: AbortSignal;
  /** Called once the last association of the step has ended (the throttle's slot is free again). */
  readonly associationsDone: () => void;
  readonly onProgress?: (p: RetrieveProgress) => void;
  readonly onReceived?: (received: ReadonlyMap<string, number>) => Promise<void>;
}

/** A series is satisfied when what arrived reaches its count; an uncounted series, when anything arrived. */
function missing(series: readonly SeriesRecord[], received: ReadonlyMap<string, number>): SeriesRecord[] {
  return series.filter((s) => {
    const got = received.get(s.seriesInstanceUid) ?? 0;
    return s.expected === null ? got === 0 : got < s.expected;
  });
}

const total = (m: ReadonlyMap<string, number>, series: readonly SeriesRecord[]): number =>
  series.reduce((n, s) => n + Math.min(m.get(s.seriesInstanceUid) ?? 0, s.expected ?? Infinity), 0);

const expectedTotal = (series: readonly SeriesRecord[]): number => series.reduce((n, s) => n + (s.expected ?? 0), 0);

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const t = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      t.cancel();
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Only what the series were counted to have: instances of other series of the study do not count. */
async function receivedOf(
  d: RetrieveDeps,
  study: string,
  series: readonly SeriesRecord[],
): Promise<Map<string, number>> {
  const all = await d.target.arrivals.received(study);
  return new Map(series.map((s) => [s.seriesInstanceUid, all.get(s.seriesInstanceUid) ?? 0]));
}

/**
 * Runs one retrieve attempt for `studyInstanceUid` with its counted `series`. Association failures
 * (connect, reject, abort, timeout) throw QrError for the caller to classify; everything the PACS
 * answered ends in a verdict.
 */
export async function retrieveStudy(
  d: RetrieveDeps,
  studyInstanceUid: string,
  series: readonly SeriesRecord[],
): Promise<RetrieveVerdict> {
  let done = false;
  const release = (): void => {
    if (!done) {
      done = true;
      d.associationsDone();
    }
  };
  try {
    const before = await receivedOf(d, studyInstanceUid, series);
    const todo = missing(series, before);
    if (todo.length === 0) {
      release();
      return { kind: 'complete', received: before, result: null, fetched: false };
    }
    // The whole study on the first go (one association, the PACS's own order); afterwards only what is missing.
    const whole = d.pacs.retrieveLevel === 'study' && todo.length === series.length;
    const requests: { level: QrLevel; keys: Record<string, string> }[] = whole
      ? [{ level: 'STUDY', keys: { StudyInstanceUID: studyInstanceUid } }]
      : todo.map((s) => ({
          level: 'SERIES',
          keys: { StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: s.seriesInstanceUid },
        }));
    let result: RetrieveResult | null = null;
    let sum: { completed: number | null; failed: number; warning: number } = { completed: null, failed: 0, warning: 0 };
    for (const rq of requests) {
      if (d.signal.aborted) {
        break;
      }
      const r =
        d.pacs.retrieve === 'move'
          ? await d.client.move(rq.level, rq.keys, {
              destinationAe: d.pacs.moveDestination ?? d.pacs.callingAe,
              signal: d.signal,
              ...(d.onProgress ? { onProgress: d.onProgress } : {}),
            })
          : await d.client.get(rq.level, rq.keys, {
              store: d.target.store,
              signal: d.signal,
              ...(d.onProgress ? { onProgress: d.onProgress } : {}),
            });
      result = r;
      sum = {
        completed: r.completed === null ? sum.completed : (sum.completed ?? 0) + r.completed,
        failed: sum.failed + (r.failed ?? 0),
        warning: sum.warning + (r.warning ?? 0),
      };
      // A refusal of the request itself ends the attempt: the other requests would get the same.
      if (r.statusClass === 'permanent' || r.statusClass === 'transient' || r.statusClass === 'cancel') {
        break;
      }
    }
    release();
    // Wait for what was counted; the clock restarts with every instance that arrives.
    let received = await receivedOf(d, studyInstanceUid, series);
    let last = total(received, series);
    let quietSince = d.clock.now();
    while (
      missing(series, received).length > 0 &&
      !d.signal.aborted &&
      d.clock.now() - quietSince < d.arrivalTimeoutMs
    ) {
      await sleep(d.clock, Math.min(d.arrivalPollMs, d.arrivalTimeoutMs - (d.clock.now() - quietSince)), d.signal);
      received = await receivedOf(d, studyInstanceUid, series);
      const now = total(received, series);
      if (now > last) {
        last = now;
        quietSince = d.clock.now();
        await d.onReceived?.(received);
      }
    }
    const still = missing(series, received);
    if (still.length === 0) {
      return { kind: 'complete', received, result, fetched: true };
    }
    return { kind: 'incomplete', received, result, ...judge(d, result, sum, received, before, series, still.length) };
  } finally {
    release();
  }
}

/** Why a retrieve fell short, in an operator's words. */
function judge(
  d: RetrieveDeps,
  r: RetrieveResult | null,
  sum: { completed: number | null; failed: number; warning: number },
  received: ReadonlyMap<string, number>,
  before: ReadonlyMap<string, number>,
  series: readonly SeriesRecord[],
  missingSeries: number,
): { code: ErrorCode; reason: string; pacsFault: boolean; destinationUnknown: boolean } {
  const op = d.pacs.retrieve === 'move' ? 'C-MOVE' : 'C-GET';
  const got = total(received, series);
  const expected = expectedTotal(series);
  const of = `${String(got)} of ${String(expected)} instances received (${String(missingSeries)} series incomplete)`;
  const base = { pacsFault: false, destinationUnknown: false };
  if (!r) {
    return { ...base, code: ErrorCode.PULL_INCOMPLETE, reason: `the retrieve was interrupted; ${of}` };
  }
  const comment = r.errorComment ? `: ${r.errorComment}` : '';
  if (r.status === QrStatus.MoveDestinationUnknown) {
    return {
      ...base,
      destinationUnknown: true,
      code: ErrorCode.PACS_REFUSED,
      reason: `${op} answered ${describeQrStatus(r.status)}${comment}: the PACS does not know AE title ${d.pacs.moveDestination ?? d.pacs.callingAe}`,
    };
  }
  if (r.statusClass === 'transient') {
    return {
      ...base,
      pacsFault: true,
      code: ErrorCode.PACS_UNAVAILABLE,
      reason: `${op} answered ${describeQrStatus(r.status)}${comment}; ${of}`,
    };
  }
  if (r.statusClass === 'permanent') {
    return {
      ...base,
      code: ErrorCode.PACS_REFUSED,
      reason: `${op} answered ${describeQrStatus(r.status)}${comment}; ${of}`,
    };
  }
  if (r.statusClass === 'cancel') {
    return { ...base, code: ErrorCode.PULL_INCOMPLETE, reason: `${op} was cancelled; ${of}` };
  }
  const arrivedNow = got - total(before, series);
  const waited = `within ${String(Math.round(d.arrivalTimeoutMs / 1000))} s`;
  if (arrivedNow <= 0 && sum.failed === 0) {
    if (sum.completed === null || sum.completed === 0) {
      return {
        ...base,
        code: ErrorCode.PULL_NOTHING_ARRIVED,
        reason: `${op} answered ${describeQrStatus(r.status)} with ${sum.completed === null ? 'no sub-operation counts' : '0 sub-operations'} and nothing arrived ${waited}; ${of}`,
      };
    }
    return {
      ...base,
      code: ErrorCode.PULL_NOTHING_ARRIVED,
      reason: `${op} reported ${String(sum.completed)} instances sent but none arrived ${waited} (check the PACS's address for our AE title); ${of}`,
    };
  }
  const failed =
    sum.failed > 0
      ? `the PACS reported ${String(sum.failed)} failed sub-operation${sum.failed === 1 ? '' : 's'}; `
      : '';
  return { ...base, code: ErrorCode.PULL_INCOMPLETE, reason: `${failed}${of}` };
}
