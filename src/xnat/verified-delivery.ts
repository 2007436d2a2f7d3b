//! What both XNAT sinks do around a delivery: refuse a series whose files are gone, and turn a look
//! at the session XNAT built into the Delivery (a lookup that cannot be made means "not verified
//! yet": the job is retried later, never delivered unverified and never failed as "0 files").
import { stat } from 'node:fs/promises';
import { ErrorCode } from '../errors.ts';
import { HttpNetworkError } from './http.ts';
import type { Delivery, DeliveryDetail, JobContext, SeriesSnapshot } from '../contracts/component.ts';
import { seriesNumberOf, xnatScanId } from './series-number.ts';
import { verificationDetail, type Verification, type VerifySession } from './verify-types.ts';

/** A rejection when a file of the series is missing (checked before anything is sent), else null. */
export async function missingFile(series: SeriesSnapshot): Promise<Delivery | null> {
  for (const inst of series.instances) {
    const gone = await stat(inst.path).then(
      () => false,
      (err: unknown) => {
        if (err instanceof Error && 'code' in err && err.code === 'ENOENT') {
          return true;
        }
        throw err;
      },
    );
    if (gone) {
      return {
        outcome: 'rejected',
        code: ErrorCode.SERIES_MISSING_FILE,
        reason: `File of instance ${String(inst.instanceId)} is missing.`,
      };
    }
  }
  return null;
}

/**
 * Asks `verify` what XNAT holds of `series` and returns the delivery's verdict: delivered with the
 * verification as detail, or rejected (CONFLICT → ERR_XNAT_CONFLICT, else ERR_XNAT_VERIFY).
 * Without `verify` (or labels) the delivery stands on `receipt` and `detail` alone.
 */
export async function verifiedDelivery(
  verify: VerifySession | undefined,
  series: SeriesSnapshot,
  receipt: string,
  detail: DeliveryDetail,
  job: JobContext,
): Promise<Delivery> {
  const labels = series.labels;
  const n = series.instances.length;
  if (!verify || !labels) {
    return { outcome: 'delivered', receipt, detail };
  }
  let v: Verification;
  try {
    const first = series.instances[0];
    // XNAT names a scan by its SeriesNumber (else its UID); listings without a UID column are matched by it.
    const scanId = first ? xnatScanId(await seriesNumberOf(first.path), series.seriesInstanceUid) : null;
    // Only an XNAT URI names a prearchive row; a C-STORE receipt does not.
    const xnatUri = receipt.startsWith('/data/') ? { receipt } : {};
    v = await verify(
      {
        labels,
        studyInstanceUid: series.studyInstanceUid,
        seriesInstanceUid: series.seriesInstanceUid,
        instances: n,
        scanId,
        modality: series.modality,
        ...xnatUri,
      },
      job.signal,
    );
  } catch (err) {
    // Not verified is not delivered: the originals are removed only after a verified delivery, so
    // the job is tried again (re-sending is idempotent: XNAT answers "already held" and we look again).
    const why = err instanceof Error ? err.message : String(err);
    job.log.warn({ err }, 'Verifying the session in XNAT failed; the delivery is tried again later.');
    return {
      outcome: 'retry',
      code: ErrorCode.XNAT_UNVERIFIED,
      reason: `Not verified yet: ${why}`,
      detail: { ...detail, message: `Not verified yet: ${why}` },
      ...(err instanceof HttpNetworkError && err.code !== 'ABORT_ERR' ? { sinkFault: 'unavailable' as const } : {}),
    };
  }
  const checked: DeliveryDetail = {
    ...verificationDetail(v, n),
    ...(detail.statuses ? { statuses: detail.statuses } : {}),
  };
  if (v.ok === 'pending') {
    job.log.warn(
      { message: v.message },
      'XNAT could not be asked what it holds yet; the delivery is tried again later.',
    );
    return {
      outcome: 'retry',
      code: ErrorCode.XNAT_UNVERIFIED,
      reason: v.message ?? 'Not verified yet.',
      detail: checked,
    };
  }
  if (v.ok) {
    return { outcome: 'delivered', receipt, detail: checked };
  }
  const code = v.status === 'CONFLICT' ? ErrorCode.XNAT_CONFLICT : ErrorCode.XNAT_VERIFY;
  return { outcome: 'rejected', code, reason: v.message ?? 'XNAT does not hold what was sent.', detail: checked };
}
