//! What a pull needs from the rest of the gateway, as interfaces the composition root fills in.
// src/sources/pull/index.ts and src/app/compose-pull.ts: `arrivals` reads the instances table (series.study_uid, distinct SOP
// Instance UIDs); `store` hands C-GET sub-operations to the Intake like any source (IncomingInstance
// has the shape of IncomingStore); `destinationAe` is the dimse source's AE title; `deliveries`
// reads the delivery jobs of the pulled series and asks XNAT again.
import type { StoreHandler } from '../../dicom/association/incoming-store.ts';

/** What has arrived at the gateway of a study, whichever way it came. */
export interface Arrivals {
  /** Distinct SOP instances received per SeriesInstanceUID; series with none are absent. */
  received(studyInstanceUid: string): Promise<ReadonlyMap<string, number>>;
}

/** Where retrieved instances go. */
export interface RetrieveTarget {
  /** Our AE title as the PACS knows it: the C-MOVE destination. */
  readonly destinationAe: string;
  /** Receives C-GET sub-operations (durably, before they are answered). */
  readonly store: StoreHandler;
  readonly arrivals: Arrivals;
  /**
   * Every instance the PACS counted for these series has arrived: their batches need not wait for
   * the quiet period (they complete once the PACS's association has closed). Absent: they wait.
   */
  readonly arrived?: (studyInstanceUid: string, seriesInstanceUids: readonly string[]) => Promise<void>;
}

/** What became of a pulled series after it arrived: delivery jobs, the sinks' verification, XNAT itself. */
export interface Deliveries {
  /**
   * Instances delivered, and verified in XNAT by the sinks (null: not countable yet), with the
   * session's URI and label (null until known).
   */
  ofSeries(
    studyInstanceUid: string,
    seriesInstanceUid: string,
  ): Promise<{
    delivered: number;
    verified: number | null;
    uri: string | null;
    session: string | null;
    /** A batch whose delivery failed for good (dead job): its code and reason. */
    failed?: { code: string; reason: string } | null;
  }>;
  /**
   * Asks XNAT now how many instances of the series it holds (null: it cannot tell yet, e.g. the
   * session is still being built); `session` is the XNAT session label. Null without an XNAT to ask.
   * `seriesNumber` names the scan in listings without UIDs (the prearchive's).
   */
  recheck(
    s: { studyInstanceUid: string; seriesInstanceUid: string; seriesNumber: string | null; delivered: number },
    signal: AbortSignal,
  ): Promise<{ found: number | null; session: string | null; uri: string | null } | null>;
}
