//! The head of a STOW-RS part: what it is (a DICOM PS3.10 file?), whether it belongs to the target study, and if so the intake begun.
import { constants, inflateRawSync } from 'node:zlib';
import { HeaderError } from '../../dicom/elements.ts';
import { EndOfData } from '../../dicom/byte-source.ts';
import { readHeaderPrefix } from '../../dicom/read.ts';
import { sniffHead } from '../../dicom/sniff.ts';
import { encodingOf, TS } from '../../dicom/transfer-syntax.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { IncomingInstance } from '../../contracts/component.ts';
import { FailureReason, failureReasonFor } from './failure.ts';
import { StowErrorCode } from './errors.ts';
import type { PartContext, PartOutcome } from './part-api.ts';

/** Beyond this, a part whose StudyInstanceUID has not appeared is refused (its header is implausibly large). */
export const MAX_STUDY_HEAD_BYTES = 4 * 1024 * 1024;

export type Decision =
  | {
      readonly kind: 'store';
      readonly incoming: IncomingInstance;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
    }
  | { readonly kind: 'refuse'; readonly outcome: Extract<PartOutcome, { ok: false }> };

export const refuse = (
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
export async function decide(head: Buffer, whole: boolean, ctx: PartContext): Promise<Decision | 'more'> {
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
