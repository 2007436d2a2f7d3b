//! Whose fault a failed pull step is, and what the row does next: wait for the PACS, try again later, or give up.
// The PACS's failures (unreachable, out of resources) open its circuit and cost the row no attempt;
// the study's cost an attempt, with capped exponential backoff; a configuration problem every row
// would hit (our AE title refused, a needed context refused, move destination unknown) pauses the
// PACS's pulls with the reason instead of failing all their rows.
import { QrError } from '../../dicom/qr/failure.ts';
import { classifyQrStatus } from '../../dicom/qr/status.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { PullRow, RetrieveCounts, RetrieveOutcome } from '../../contracts/pull-ledger.ts';
import type { PacsStep } from './context.ts';
import type { RetrieveVerdict } from './retrieve.ts';

/** A query or retrieve that threw: records the row's next move. */
export async function stepFailed(
  s: PacsStep,
  row: PullRow,
  step: 'query' | 'retrieve',
  err: unknown,
  ctrl: AbortController,
): Promise<void> {
  const { p, ledger, breakers, clock, config, plog } = s;
  const now = clock.now();
  if (ctrl.signal.aborted) {
    await ledger.requeue(row.id, now);
    return;
  }
  let code: ErrorCode = ErrorCode.PACS_UNAVAILABLE;
  let pacsFault = false;
  let reason: string;
  if (err instanceof QrError) {
    const where = `${p.aeTitle}@${p.host}:${String(p.port)}`;
    reason = `${step === 'query' ? 'C-FIND' : p.retrieve === 'move' ? 'C-MOVE' : 'C-GET'} to ${where}: ${err.message}`;
    if ((err.kind === 'rejected' && err.reject?.result === 1) || err.kind === 'context') {
      breakers.failed(p.name, { code: ErrorCode.PACS_REFUSED, error: reason });
      await ledger.requeue(row.id, now);
      await s.pauseAll(`${ErrorCode.PACS_REFUSED}: ${reason}`);
      return;
    }
    if (err.kind === 'status') {
      pacsFault = classifyQrStatus(err.status ?? 0) === 'transient';
      code = pacsFault ? ErrorCode.PACS_UNAVAILABLE : ErrorCode.PACS_REFUSED;
    } else {
      // Unreachable, timed out, aborted, closed: the PACS, not the study. A protocol error may be the study's data.
      pacsFault = err.kind !== 'protocol';
    }
  } else {
    code = ErrorCode.JOB_UNEXPECTED;
    reason = describeError(err);
    plog.error({ err, line: row.line }, 'Unexpected failure in a pull step.');
  }
  if (pacsFault) {
    breakers.failed(p.name, { code, error: reason });
  }
  const attempts = row.attempts + (pacsFault ? 0 : 1);
  const next = (pacsFault ? breakers.retryAt(p.name) : null) ?? now + s.backoff(Math.max(1, attempts));
  const final = !pacsFault && attempts >= config.maxAttempts;
  plog.warn(
    { line: row.line, step, code, reason, attempt: attempts, final },
    final ? 'Pull row failed.' : 'Pull step failed; it will be retried.',
  );
  if (step === 'query') {
    await ledger.queryFailed(
      row.id,
      final
        ? { code, reason, at: now, final: true }
        : { code, reason, at: now, nextAttemptAt: next, countAttempt: !pacsFault },
    );
  } else {
    const outcome: RetrieveOutcome = final
      ? { state: 'failed', code, reason }
      : { state: 'queued', code, reason, nextAttemptAt: next, countAttempt: !pacsFault };
    await ledger.retrieved(row.id, { outcome, counts: null, received: new Map(), at: now });
  }
}

/**
 * A retrieve that ended without every counted instance (not cancelled, the destination known):
 * queued again after its backoff (or the circuit), or, out of attempts, `partial` with what
 * arrived or `failed` with nothing. Recorded, then logged.
 */
export async function recordIncomplete(
  s: PacsStep,
  row: PullRow,
  v: Extract<RetrieveVerdict, { kind: 'incomplete' }>,
  counts: RetrieveCounts | null,
  at: number,
): Promise<void> {
  const { p, breakers, config } = s;
  if (v.pacsFault) {
    breakers.failed(p.name, { code: v.code, error: v.reason });
  } else {
    breakers.succeeded(p.name);
  }
  const attempts = row.attempts + (v.pacsFault ? 0 : 1);
  const got = [...v.received.values()].reduce((a, b) => a + b, 0);
  let outcome: RetrieveOutcome;
  if (!v.pacsFault && attempts >= config.maxAttempts) {
    outcome =
      got > 0
        ? { state: 'partial', code: ErrorCode.PULL_INCOMPLETE, reason: v.reason }
        : { state: 'failed', code: v.code, reason: v.reason };
  } else {
    const next = (v.pacsFault ? breakers.retryAt(p.name) : null) ?? at + s.backoff(Math.max(1, attempts));
    outcome = { state: 'queued', code: v.code, reason: v.reason, nextAttemptAt: next, countAttempt: !v.pacsFault };
  }
  await s.ledger.retrieved(row.id, { outcome, counts, received: v.received, at });
  s.plog.warn(
    { line: row.line, code: v.code, reason: v.reason, attempt: attempts, outcome: outcome.state },
    outcome.state === 'queued' ? 'Pull row incomplete; it will be retried.' : 'Pull row ended incomplete.',
  );
}
