//! C-STORE statuses and association failures → per-instance verdicts and the series' Delivery.
// XNAT answers 0x0000, 0xC000 for a problem with the object and 0xA700 for a problem on its side
// (reference/xnat.md §2a). Other receivers use the rest of PS3.4 Annex B.2.3 and PS3.7 Annex C, so
// the table below covers every family: success, warning, transient failure and permanent failure.
import { ErrorCode } from '../../errors.ts';
import type { Delivery, DeliveryDetail } from '../../contracts/component.ts';
import type { DimseError } from '../../dicom/association/failure.ts';
import { statusHex, type DimseResponse } from './command.ts';

/** success/warning: stored; retry: send the series again later; rejected: needs a person. */
export type Verdict = 'success' | 'warning' | 'retry' | 'rejected';

/** Warning statuses of PS3.7 Annex C besides the 0xBxxx family: the instance was stored. */
const WARNINGS: ReadonlySet<number> = new Set([0x0001, 0x0107, 0x0116]);
/**
 * Transient failures: 0xA7xx out of resources; 0x0110 processing failure (XNAT's server-side
 * exceptions and many PACS use it for "try later"); 0x0213 resource limitation; 0xFE00 cancelled.
 */
const RETRY: ReadonlySet<number> = new Set([0x0110, 0x0213, 0xfe00]);

export function classifyStatus(status: number): Verdict {
  if (status === 0x0000) {
    return 'success';
  }
  if ((status & 0xf000) === 0xb000 || WARNINGS.has(status)) {
    return 'warning';
  }
  if ((status & 0xff00) === 0xa700 || RETRY.has(status)) {
    return 'retry';
  }
  // 0xA9xx data set does not match SOP class, 0xCxxx cannot understand, 0x0122 SOP class not
  // supported, 0x0124 not authorised, and anything unknown: sending it again will not help.
  return 'rejected';
}

const STATUS_WORDS: Readonly<Record<number, string>> = {
  0x0110: 'processing failure',
  0x0122: 'SOP class not supported',
  0x0124: 'not authorised',
  0x0213: 'resource limitation',
};

/** "0xA700 (out of resources)" */
export function describeStatus(status: number): string {
  const family =
    (status & 0xff00) === 0xa700
      ? 'out of resources'
      : (status & 0xff00) === 0xa900
        ? 'data set does not match SOP class'
        : (status & 0xf000) === 0xc000
          ? 'cannot understand'
          : (status & 0xf000) === 0xb000
            ? 'warning'
            : STATUS_WORDS[status];
  return family === undefined ? statusHex(status) : `${statusHex(status)} (${family})`;
}

/** The first failure worth naming, with the receiver's own words. */
interface Failure {
  readonly index: number;
  readonly status: number;
  readonly comment: string | null;
}

/** Counts of one delivery's responses. */
export interface Tally {
  readonly total: number;
  readonly counts: Map<number, number>;
  answered: number;
  retry: Failure | null;
  rejected: Failure | null;
}

export function createTally(total: number): Tally {
  return { total, counts: new Map(), answered: 0, retry: null, rejected: null };
}

/** Records a C-STORE-RSP for the instance at `index` (0-based) and returns its verdict. */
export function record(t: Tally, index: number, rsp: DimseResponse): Verdict {
  t.answered++;
  t.counts.set(rsp.status, (t.counts.get(rsp.status) ?? 0) + 1);
  const v = classifyStatus(rsp.status);
  const f = { index, status: rsp.status, comment: rsp.errorComment };
  if (v === 'retry') {
    t.retry ??= f;
  }
  if (v === 'rejected') {
    t.rejected ??= f;
  }
  return v;
}

/** `{ "0000": 99, "C000": 1 }`, as in DeliveryDetail.statuses. */
export function statusCounts(t: Tally): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [s, n] of [...t.counts].sort((a, b) => a[0] - b[0])) {
    out[s.toString(16).toUpperCase().padStart(4, '0')] = n;
  }
  return out;
}

/** "0x0000 ×98, 0xB000 ×2" */
export function describeCounts(t: Tally): string {
  return [...t.counts]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${statusHex(s)} ×${String(n)}`)
    .join(', ');
}

function failureText(where: string, t: Tally, f: Failure): string {
  const comment = f.comment === null ? '' : `: ${f.comment}`;
  return `${where} answered ${describeStatus(f.status)} for instance ${String(f.index + 1)} of ${String(t.total)}${comment}`;
}

/** The detail recorded for a delivery that did not (fully) succeed. */
function detailOf(t: Tally, f: Failure | null): DeliveryDetail {
  return { sent: t.answered, statuses: statusCounts(t), ...(f?.comment ? { message: f.comment } : {}) };
}

/**
 * The series' outcome from its responses, or null when every instance was stored. A retryable
 * status wins over a permanent one: sending again may well clear both, and a person looks only
 * at what is left.
 */
export function seriesFailure(t: Tally, where: string): Delivery | null {
  if (t.retry) {
    return {
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      sinkFault: 'unavailable',
      reason: `${ErrorCode.DIMSE_RETRY}: ${failureText(where, t, t.retry)}.`,
      detail: detailOf(t, t.retry),
    };
  }
  if (t.rejected) {
    const others = t.counts.size > 1 ? ` (${describeCounts(t)})` : '';
    return {
      outcome: 'rejected',
      code: ErrorCode.DIMSE_REJECTED,
      reason: `${failureText(where, t, t.rejected)}${others}.`,
      detail: detailOf(t, t.rejected),
    };
  }
  return null;
}

/**
 * An association that could not be opened or broke off. Only a permanent A-ASSOCIATE-RJ needs a
 * person (wrong AE title, calling AE not allowed); everything else is retried on a new association.
 */
export function associationFailure(err: DimseError, where: string, t: Tally | null): Delivery {
  const detail: DeliveryDetail = {
    message: err.message,
    ...(t && t.answered > 0 ? { sent: t.answered, statuses: statusCounts(t) } : {}),
  };
  if (err.kind === 'rejected' && err.reject?.result === 1) {
    return { outcome: 'rejected', code: ErrorCode.DIMSE_ASSOCIATION, reason: `${where}: ${err.message}.`, detail };
  }
  const progress = t && t.answered > 0 ? ` after ${String(t.answered)} of ${String(t.total)} instances` : '';
  if (err.kind === 'interrupted') {
    return {
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      reason: `${ErrorCode.DIMSE_RETRY}: delivery to ${where} interrupted${progress} (A-ABORT sent).`,
      detail,
    };
  }
  const code = err.kind === 'rejected' ? ErrorCode.DIMSE_ASSOCIATION : ErrorCode.DIMSE_RETRY;
  return {
    outcome: 'retry',
    code,
    sinkFault: 'unavailable',
    reason: `${code}: ${where}: ${err.message}${progress}.`,
    detail,
  };
}
