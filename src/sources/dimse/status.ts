//! Maps an intake result to the C-STORE response status the sender sees (PS3.4 Annex B.2.3).
import { ErrorCode } from '../../errors.ts';
import type { IngestResult } from '../../contracts/component.ts';

export const StoreStatus = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  /** PS3.7 Annex C: the SCP does not perform this operation (answered to C-FIND, N-SET, …). */
  UnrecognizedOperation: 0x0211,
} as const;

/** Failures that are the dataset's fault; every other failure is ours and transient. */
const DATASET_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.DICOM_UID_MISMATCH]: StoreStatus.DataSetDoesNotMatchSopClass,
  [ErrorCode.DICOM_UNPARSABLE]: StoreStatus.CannotUnderstand,
  [ErrorCode.DICOM_MISSING_UID]: StoreStatus.CannotUnderstand,
  [ErrorCode.DICOM_NO_PIXEL_DATA]: StoreStatus.DataSetDoesNotMatchSopClass,
  [ErrorCode.COMMAND_INVALID]: StoreStatus.CannotUnderstand,
};

/** Never Success for a failure: transient problems ask the sender to retry later (0xA7xx). */
export function storeStatusFor(r: IngestResult): number {
  if (r.ok) {
    return StoreStatus.Success;
  }
  return DATASET_STATUS[r.code] ?? StoreStatus.OutOfResources;
}
