//! The contract between a sink that has just delivered a series and the check of what XNAT built.
import type { DeliveryDetail, XnatSessionStatus } from '../contracts/component.ts';
import type { SeriesLabels } from '../contracts/series.ts';

/** What was sent: enough to find the session and the scan in XNAT and count its files. */
export interface SentSeries {
  readonly labels: SeriesLabels;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly instances: number;
  /**
   * XNAT's scan id for the series alone in its number (SeriesNumber, else from its UID: see
   * xnatScanId), for listings that carry no UID.
   */
  readonly scanId?: string | null;
  /** The series' Modality: XNAT names series sharing a number `{N}-{Modality}{index}`. */
  readonly modality?: string | null;
  /** The URI XNAT answered the upload with (REST), when there is one. */
  readonly receipt?: string;
}

/**
 * The verdict of one check: `ok` false means a mismatch or a conflict, never "not built yet";
 * 'pending' means a lookup could not be made (XNAT answered 404 for a listing of a session it has,
 * or the like): not verified yet, to be tried again, never read as "XNAT holds 0 files".
 */
export interface Verification {
  readonly ok: boolean | 'pending';
  readonly status: XnatSessionStatus;
  readonly uri: string | null;
  /** Instances of the series XNAT holds; null while the session is still RECEIVING (not countable). */
  readonly found: number | null;
  readonly message: string | null;
}

/** Looks the session up (prearchive or archive) and compares it with what was sent. */
export type VerifySession = (sent: SentSeries, signal: AbortSignal) => Promise<Verification>;

/** The job detail recorded for a verified delivery. */
export function verificationDetail(v: Verification, sent: number): DeliveryDetail {
  return {
    xnatStatus: v.status,
    sent,
    found: v.found,
    ...(v.uri === null ? {} : { uri: v.uri }),
    ...(v.message === null ? {} : { message: v.message }),
  };
}
