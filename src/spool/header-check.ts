//! Checks a spooled instance's dataset against its request before its row is committed.
// Run on the acknowledgement path, before the commit: an instance that fails is refused with a
// specific status and its file removed, never filed under a UID it does not carry.
import { requiresPixelData } from '../dicom/sop-class.ts';
import { DaemonError, ErrorCode } from '../errors.ts';
import { isSafeUid } from './layout.ts';
import type { SpooledFile } from './spool-writer.ts';
import type { IncomingMeta } from '../contracts/intake.ts';

/**
 * The UIDs a spooled instance is filed under, once its dataset agrees with what the sender said it
 * was sending; a DaemonError (not retryable) names what is missing or differs.
 */
export function checkHeader(meta: IncomingMeta, spooled: SpooledFile): { study: string; series: string } {
  const h = spooled.header;
  const { StudyInstanceUID: study, SeriesInstanceUID: series } = h;
  if (!study || !series || !isSafeUid(study) || !isSafeUid(series)) {
    throw new DaemonError(ErrorCode.DICOM_MISSING_UID, 'Study or Series Instance UID missing or invalid.', {
      stage: 'receiving',
      retryable: false,
    });
  }
  if (
    (h.SOPInstanceUID && h.SOPInstanceUID !== meta.sopInstanceUid) ||
    (h.SOPClassUID && h.SOPClassUID !== meta.sopClassUid)
  ) {
    // A C-STORE names the instance in its request; a file names it in its File Meta Information.
    const against =
      meta.source === 'dimse'
        ? 'the C-STORE request'
        : "the file's meta information (MediaStorageSOPClassUID/MediaStorageSOPInstanceUID)";
    throw new DaemonError(
      ErrorCode.DICOM_UID_MISMATCH,
      `SOP Class/Instance UID in the dataset differ from ${against}.`,
      { stage: 'receiving', retryable: false },
    );
  }
  if (!spooled.pixelData && requiresPixelData(meta.sopClassUid)) {
    throw new DaemonError(
      ErrorCode.DICOM_NO_PIXEL_DATA,
      'An image of this SOP class without pixel data (cut short at an element boundary?).',
      { stage: 'receiving', retryable: false },
    );
  }
  if (!isSafeUid(meta.sopInstanceUid)) {
    throw new DaemonError(ErrorCode.DICOM_MISSING_UID, 'SOP Instance UID is not a valid UID.', {
      stage: 'receiving',
      retryable: false,
    });
  }
  return { study, series };
}
