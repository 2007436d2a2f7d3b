//! What the console needs beyond the status routes' deps: sign-in, audit, and read views the daemon lends it.
import type { SessionStore, Throttle } from './sessions.ts';
import type { LookupKind } from '../../store/find-index.ts';
import type { SeriesListItem } from '../../store/series-list.ts';

/** A thing that needed a person, as the notifier saw it (no PHI): shown under "Recent problems". */
export interface Problem {
  readonly at: number;
  /** e.g. job.dead, series.quarantined, circuit.open, disk.low, rules.refused, drop.rejected. */
  readonly kind: string;
  /** open / recovered for conditions; event for one-off events. */
  readonly state: 'open' | 'recovered' | 'event';
  readonly title: string;
  /** Console path of the page to look at (e.g. /console/series/42). */
  readonly path: string;
}

/** The de-identification of a series batch as the console shows it (pseudonyms only). */
export interface DeidSummary {
  readonly project: string;
  readonly profile: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly script: string | null;
  readonly subjectLabel: string | null;
  readonly sessionLabel: string | null;
  /** The audit row written after the output was verified; null when not (yet) de-identified. */
  readonly verified: {
    readonly at: number;
    readonly edition: string;
    readonly keyId: string;
    readonly instances: number;
    readonly uidsMapped: number;
  } | null;
}

export interface SourcesView {
  readonly dimse: {
    readonly listening: boolean;
    readonly aeTitle: string;
    readonly host: string;
    readonly port: number | null;
  } | null;
  readonly folder: { readonly path: string; readonly stableMs: number; readonly readyMarker: string | null } | null;
}

export interface ConsoleDeps {
  readonly sessions: SessionStore;
  /** Failed sign-ins per peer address. */
  readonly throttle: Throttle;
  readonly adminTokenFile: string | null;
  readonly passwordFile: string | null;
  /** Writes an audit row (`events`); detail holds names, ids and counts only. */
  audit(
    kind: string,
    seriesId: number | null,
    detail: Readonly<Record<string, string | number | boolean | null>>,
  ): Promise<void>;
  sources(): SourcesView;
  /** Series batches whose PatientID / AccessionNumber hash to `text`'s digests (newest first); null when find is off. */
  readonly find: ((kind: LookupKind, text: string) => Promise<SeriesListItem[]>) | null;
  deid(seriesId: number, project: string | null, studyUid: string): Promise<DeidSummary | null>;
  /** Files of an import-folder drop that were not ingested, with why (names may identify a patient: admins only). */
  rejectedFiles(
    dropId: number,
  ): Promise<readonly { readonly file: string; readonly code: string | null; readonly reason: string | null }[]>;
  /** The XNAT web address sessions are linked to (the first xnat-rest sink's URL), or null. */
  readonly xnatUrl: string | null;
  /** Recent things that needed a person, newest first. */
  problems(): readonly Problem[];
  /** The built-in rule switches in force (route.builtin), for the rules page. */
  readonly builtinRules: {
    readonly burnedIn: {
      readonly enabled: boolean;
      readonly modalities: readonly string[];
      readonly seriesDescriptions: readonly string[];
    };
    readonly missingIdentifiers: boolean;
  };
  /** route.hospitalProject: where a release sends a series. */
  readonly hospitalProject: string;
  /** Add Secure to cookies (the console is reached over TLS, e.g. behind a proxy). */
  readonly secureCookies: boolean;
}
