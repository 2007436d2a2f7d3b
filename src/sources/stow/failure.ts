//! FailureReason (0008,1197) values of a STOW-RS response (PS3.18 Table I.2-2), from the gateway's error codes.
import { ErrorCode } from '../../errors.ts';
import { StowErrorCode } from './errors.ts';

export const FailureReason = {
  /** A general failure in processing (an I/O error, a bug): worth a retry later. */
  ProcessingFailure: 0x0110,
  /** The instance's SOP class is not one we store (a DICOMDIR). */
  SopClassNotSupported: 0x0122,
  /** Out of resources: disk at its watermark, too much undelivered, instance over the size limit. */
  OutOfResources: 0xa700,
  /** The dataset does not conform to its SOP class (UIDs disagree, an image without pixel data). */
  DataSetDoesNotMatchSopClass: 0xa900,
  /** The part cannot be understood: not DICOM, cut short, malformed. */
  CannotUnderstand: 0xc000,
  /** Transfer syntax we cannot read. */
  TransferSyntaxNotSupported: 0xc122,
  /** Implementation specific (Cxxx, documented in docs/stow.md): the instance belongs to another study than the request's target. */
  StudyMismatch: 0xc409,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.DICOM_UID_MISMATCH]: FailureReason.DataSetDoesNotMatchSopClass,
  [ErrorCode.DICOM_NO_PIXEL_DATA]: FailureReason.DataSetDoesNotMatchSopClass,
  [ErrorCode.DICOM_UNPARSABLE]: FailureReason.CannotUnderstand,
  [ErrorCode.DICOM_MISSING_UID]: FailureReason.CannotUnderstand,
  [StowErrorCode.STOW_PART_INVALID]: FailureReason.CannotUnderstand,
  [StowErrorCode.STOW_STUDY_MISMATCH]: FailureReason.StudyMismatch,
  [ErrorCode.SPOOL_FULL]: FailureReason.OutOfResources,
  [ErrorCode.QUEUE_BACKLOG]: FailureReason.OutOfResources,
  [ErrorCode.INSTANCE_TOO_LARGE]: FailureReason.OutOfResources,
  [ErrorCode.SHUTTING_DOWN]: FailureReason.OutOfResources,
};

/** Never a success for a failure: anything not the dataset's fault nor a resource limit is a processing failure. */
export function failureReasonFor(code: ErrorCode): number {
  return BY_CODE[code] ?? FailureReason.ProcessingFailure;
}
