//! One part of a STOW-RS body: its head held until it can be read, then streamed into the intake and finished.
// The part is a DICOM PS3.10 file. Its File Meta Information names the SOP class, instance and
// transfer syntax the intake needs before the first dataset byte, so the head of the part (64 KiB,
// more only when the study must be read further on) is held until it can be read; everything after
// goes straight to the spool writer. The intake then checks the whole dataset exactly as for a
// C-STORE (dicom/validate.ts) and answers only after fsync + commit.
import { SNIFF_BYTES } from '../../dicom/sniff.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import { StowErrorCode } from './errors.ts';
import { FailureReason, failureReasonFor } from './failure.ts';
import type { PartContext, PartReceiver } from './part-api.ts';
import { decide, MAX_STUDY_HEAD_BYTES, partHeaderProblem, refuse, type Decision } from './part-head.ts';

export function receivePart(headers: ReadonlyMap<string, string>, ctx: PartContext): PartReceiver {
  const headerProblem = partHeaderProblem(headers);
  let decision: Decision | null = headerProblem ? refuse(StowErrorCode.STOW_PART_INVALID, headerProblem) : null;
  let deciding: Promise<void> | null = null;
  let head: Buffer[] = [];
  let headLength = 0;
  let wanted = SNIFF_BYTES;
  let aborted = false;

  async function tryDecide(whole: boolean): Promise<void> {
    const bytes = Buffer.concat(head, headLength);
    let d: Decision | 'more';
    try {
      d = await decide(bytes, whole, ctx);
    } catch (err) {
      d = refuse(
        StowErrorCode.STOW_PART_INVALID,
        `The part could not be read: ${describeError(err)}`,
        {},
        FailureReason.ProcessingFailure,
      );
    }
    if (d === 'more') {
      wanted = Math.min(MAX_STUDY_HEAD_BYTES, wanted * 4);
      head = [bytes];
      return;
    }
    head = [];
    decision = d;
    if (aborted && d.kind === 'store') {
      await d.incoming.abort();
    }
  }

  return {
    write(data) {
      if (decision?.kind === 'refuse') {
        return true;
      }
      if (decision) {
        return decision.incoming.write(data);
      }
      // Held while undecided: at most `wanted` bytes plus one chunk, because the caller waits for
      // drained() (the decision) before the next write.
      head.push(data);
      headLength += data.length;
      if (headLength < wanted) {
        return true;
      }
      deciding = tryDecide(false);
      return false;
    },
    async drained() {
      if (deciding) {
        await deciding;
        deciding = null;
      }
      if (decision?.kind === 'store') {
        await decision.incoming.drained();
      }
    },
    async finish() {
      if (deciding) {
        await deciding;
      }
      while (!decision) {
        await tryDecide(true);
      }
      const d: Decision = decision;
      if (d.kind === 'refuse') {
        return d.outcome;
      }
      const { sopClassUid, sopInstanceUid } = d;
      const r = await d.incoming.finish().catch((err: unknown) => ({
        ok: false as const,
        code: ErrorCode.SPOOL_WRITE,
        retryable: true,
        message: describeError(err),
      }));
      if (r.ok) {
        return { ok: true, sopClassUid, sopInstanceUid, outcome: r.outcome };
      }
      return {
        ok: false,
        sopClassUid,
        sopInstanceUid,
        code: r.code,
        message: r.message,
        reason: failureReasonFor(r.code),
      };
    },
    identity() {
      if (decision?.kind === 'store') {
        return { sopClassUid: decision.sopClassUid, sopInstanceUid: decision.sopInstanceUid };
      }
      return {
        sopClassUid: decision?.outcome.sopClassUid ?? null,
        sopInstanceUid: decision?.outcome.sopInstanceUid ?? null,
      };
    },
    async abort() {
      aborted = true;
      if (deciding) {
        await deciding;
      }
      if (decision?.kind === 'store') {
        await decision.incoming.abort().catch(() => undefined);
      }
    },
  };
}
