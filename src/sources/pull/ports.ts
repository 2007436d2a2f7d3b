//! What a pull needs from the rest of the gateway, as interfaces the composition root fills in.
// Phase 2 (after the registry refactor): `arrivals` reads the instances table (series.study_uid,
// distinct SOP Instance UIDs); `store` hands C-GET sub-operations to the Intake like any source
// (IncomingInstance has the shape of IncomingStore); `destinationAe` is the dimse source's AE title.
import type { StoreHandler } from '../../dicom/qr/association.ts';

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
}
