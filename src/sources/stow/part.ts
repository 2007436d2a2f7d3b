//! One part of a STOW-RS body: recognised from its first bytes, checked against the target study, streamed into the intake.
// The part is a DICOM PS3.10 file. Its File Meta Information names the SOP class, instance and
// transfer syntax the intake needs before the first dataset byte, so the head of the part (64 KiB,
// more only when the study must be read further on) is held until it can be read; everything after
// goes straight to the spool writer. The intake then checks the whole dataset exactly as for a
// C-STORE (dicom/validate.ts) and answers only after fsync + commit.
import { constants, inflateRawSync } from 'node:zlib';
import { HeaderError } from '../../dicom/elements.ts';
import { EndOfData } from '../../dicom/byte-source.ts';
import { readHeaderPrefix } from '../../dicom/read.ts';
import { sniffHead, SNIFF_BYTES } from '../../dicom/sniff.ts';
import { encodingOf, TS } from '../../dicom/transfer-syntax.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { IncomingInstance } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import { FailureReason, failureReasonFor } from './failure.ts';
import { StowErrorCode } from './errors.ts';

/** Beyond this, a part whose StudyInstanceUID has not appeared is refused (its header is implausibly large). */
export const MAX_STUDY_HEAD_BYTES = 4 * 1024 * 1024;

export type PartOutcome =
  | {
      readonly ok: true;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly outcome: 'stored' | 'duplicate' | 'replaced';
    }
  | {
      readonly ok: false;
      readonly sopClassUid: string | null;
      readonly sopInstanceUid: string | null;
      readonly reason: number;
      readonly code: ErrorCode;
      readonly message: string;
    };

export interface PartContext {
  readonly intake: Intake;
  readonly associationUid: string;
  /** The token's name: recorded as the calling AE of the instance and association. */
  readonly sender: string;
  readonly peerIp: string;
  /** The StudyInstanceUID of the request's path, when it names one. */
  readonly studyUid: string | null;
}

export interface PartReceiver {
  /** Takes the next bytes of the part; false: wait for `drained()` before the next write. */
  write(data: Buffer): boolean;
  drained(): Promise<void>;
  /** The part's body is complete: store it (or say why not). Never rejects. */
  finish(): Promise<PartOutcome>;
  /** The part was cut off (the body ended or the client went away): nothing of it is kept. Never rejects. */
  abort(): Promise<void>;
  /** The SOP class and instance, once the head has been read (for the failure of a part cut off). */
  identity(): { readonly sopClassUid: string | null; readonly sopInstanceUid: string | null };
}

type Decision =
  | {
      readonly kind: 'store';
      readonly incoming: IncomingInstance;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
    }
  | { readonly kind: 'refuse'; readonly outcome: Extract<PartOutcome, { ok: false }> };

const refuse = (
  code: ErrorCode,
  message: string,
  uids: { sopClassUid?: string; sopInstanceUid?: string } = {},
  reason = failureReasonFor(code),
): Decision => ({
  kind: 'refuse',
  outcome: {
    ok: false,
    code,
    message,
    reason,
    sopClassUid: uids.sopClassUid ?? null,
    sopInstanceUid: uids.sopInstanceUid ?? null,
  },
});

/** Only the identity encodings of RFC 2045 §6.1: the bytes are the file. */
const IDENTITY_ENCODINGS = new Set(['binary', '8bit', '7bit']);

/** Whether the part's own headers allow reading it as a DICOM file; an error message when not. */
export function partHeaderProblem(headers: ReadonlyMap<string, string>): string | null {
  const type = headers.get('content-type');
  if (type !== undefined && type.split(';')[0]?.trim().toLowerCase() !== 'application/dicom') {
    return 'The part is not application/dicom (this receiver takes DICOM PS3.10 files only).';
  }
  const cte = headers.get('content-transfer-encoding');
  if (cte !== undefined && !IDENTITY_ENCODINGS.has(cte.trim().toLowerCase())) {
    return 'The part has a Content-Transfer-Encoding other than binary.';
  }
  return null;
}

/** studyOf's answer when the head ends before the StudyInstanceUID: read more of the part. */
const MORE = Symbol('more');

/** The StudyInstanceUID within `head` (from `offset`): absent (null), or MORE when the head ends before it. */
async function studyOf(head: Buffer, whole: boolean, offset: number, ts: string): Promise<string | null | typeof MORE> {
  let data = head.subarray(offset);
  let syntax = ts;
  if (encodingOf(ts)?.deflated) {
    // A sync flush inflates what the head holds, even when the deflate stream goes on past it.
    data = inflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 4 * MAX_STUDY_HEAD_BYTES });
    syntax = TS.ExplicitLE;
  }
  const h = await readHeaderPrefix(data, syntax, whole, ['StudyInstanceUID']);
  if (h === null) {
    return MORE;
  }
  return h.StudyInstanceUID ?? null;
}

/** Reads the head: what the part is and whether it may be stored; begins the intake when it may. */
async function decide(head: Buffer, whole: boolean, ctx: PartContext): Promise<Decision | 'more'> {
  const sniffed = await sniffHead(head, whole);
  if (sniffed.kind === 'not-dicom') {
    return refuse(StowErrorCode.STOW_PART_INVALID, `Not a DICOM file: ${sniffed.reason}.`);
  }
  if (sniffed.kind === 'invalid') {
    return refuse(ErrorCode.DICOM_UNPARSABLE, `DICOM file cannot be used: ${sniffed.reason}.`);
  }
  if (sniffed.kind === 'dicomdir') {
    return refuse(
      StowErrorCode.STOW_PART_INVALID,
      'A DICOMDIR is an index, not an instance.',
      {},
      FailureReason.SopClassNotSupported,
    );
  }
  const uids = { sopClassUid: sniffed.sopClassUid, sopInstanceUid: sniffed.sopInstanceUid };
  if (sniffed.kind === 'bare') {
    return refuse(
      StowErrorCode.STOW_PART_INVALID,
      'Not a DICOM PS3.10 file (no preamble and File Meta Information).',
      uids,
    );
  }
  if (!encodingOf(sniffed.transferSyntaxUid)) {
    return refuse(
      ErrorCode.DICOM_UNPARSABLE,
      `Transfer syntax ${sniffed.transferSyntaxUid} is not supported.`,
      uids,
      FailureReason.TransferSyntaxNotSupported,
    );
  }
  if (ctx.studyUid !== null) {
    let study: string | null | typeof MORE;
    try {
      study = await studyOf(head, whole, sniffed.datasetOffset, sniffed.transferSyntaxUid);
    } catch (err) {
      if (
        !(err instanceof HeaderError) &&
        !(err instanceof EndOfData) &&
        !(err instanceof RangeError) &&
        !(err as NodeJS.ErrnoException).code?.startsWith('Z_')
      ) {
        throw err;
      }
      return refuse(ErrorCode.DICOM_UNPARSABLE, `Dataset cannot be parsed: ${describeError(err)}`, uids);
    }
    if (study === MORE) {
      if (head.length < MAX_STUDY_HEAD_BYTES) {
        return 'more';
      }
      return refuse(
        StowErrorCode.STOW_PART_INVALID,
        `No StudyInstanceUID within the first ${String(MAX_STUDY_HEAD_BYTES)} bytes.`,
        uids,
      );
    }
    if (study === null) {
      return refuse(ErrorCode.DICOM_MISSING_UID, 'The dataset has no StudyInstanceUID.', uids);
    }
    if (study !== ctx.studyUid) {
      return refuse(
        StowErrorCode.STOW_STUDY_MISMATCH,
        'The instance belongs to another study than the one in the request URL.',
        uids,
      );
    }
  }
  const incoming = ctx.intake.begin({
    source: 'stow',
    sopClassUid: sniffed.sopClassUid,
    sopInstanceUid: sniffed.sopInstanceUid,
    transferSyntaxUid: sniffed.transferSyntaxUid,
    callingAe: ctx.sender,
    calledAe: '',
    peerIp: ctx.peerIp,
    associationUid: ctx.associationUid,
  });
  const rest = head.subarray(sniffed.datasetOffset);
  if (rest.length) {
    incoming.write(rest);
  }
  return { kind: 'store', incoming, ...uids };
}

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
