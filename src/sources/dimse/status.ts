//! Maps an intake result to the C-STORE response status the sender sees (PS3.4 Annex B.2.3).
import { ErrorCode } from '../../errors.ts';
import type { IngestResult } from '../../pipeline/contracts.ts';

export const StoreStatus = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
} as const;

/** Never Success for a failure: transient problems ask the sender to retry later (0xA7xx). */
export function storeStatusFor(r: IngestResult): number {
  if (r.ok) return StoreStatus.Success;
  switch (r.code) {
    case ErrorCode.DICOM_UID_MISMATCH:
      return StoreStatus.DataSetDoesNotMatchSopClass;
    case ErrorCode.DICOM_UNPARSABLE:
    case ErrorCode.DICOM_MISSING_UID:
      return StoreStatus.CannotUnderstand;
    default:
      return StoreStatus.OutOfResources;
  }
}
