//! What the series engine (series.ts) takes and gives back: inputs, dependencies, outcome, report.
// Kept apart from the engine so the daemon's transform, the offline command and the script loader
// can name these shapes without importing the engine and everything it stands on.
import type { Element } from '../../dicom/dataset.ts';
import { HeaderError } from '../../dicom/elements.ts';
import type { IoThreads } from '../../dicom/io-thread.ts';
import type { PseudonymLedger } from '../../contracts/pseudonyms.ts';
import type { TransformStep } from './actions.ts';
import type { ProjectSettings } from './config.ts';
import type { ScriptHost } from './dicomedit/target.ts';
import type { Held } from './identity.ts';
import type { UnitOfWork } from '../../contracts/unit-of-work.ts';
import type { Labels } from './insert.ts';
import type { ProjectKey } from './keys.ts';

/** An instance of the series could not be parsed (or read as the profile needs): which one, and why. */
export class InstanceReadError extends HeaderError {
  /** Its position in the series' inputs. */
  readonly index: number;
  constructor(index: number, cause: HeaderError) {
    super(cause.message, { cause });
    this.index = index;
  }
}

export interface SeriesInput {
  readonly path: string;
  readonly datasetOffset: number;
  readonly transferSyntaxUid: string;
  /** The file's size when known (the spool records it): lets the reader stop without probing for the end. */
  readonly size?: number | undefined;
  /** The SOP Instance and Class UIDs of the File Meta (or the C-STORE request): used when the dataset lacks them. */
  readonly sopInstanceUid?: string | undefined;
  readonly sopClassUid?: string | undefined;
}

export interface SeriesOutputInstance {
  readonly path: string;
  readonly size: number;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
}

export type SeriesOutcome =
  | {
      readonly kind: 'done';
      readonly labels: Labels;
      readonly studyUid: string;
      readonly seriesUid: string;
      readonly instances: readonly SeriesOutputInstance[];
      readonly report: SeriesReport;
    }
  /**
   * Not sent, waiting for an operator: `lookup`, the patient is not in the lookup table; `identity`,
   * the series cannot be keyed to one patient and study without merging it with others (a missing
   * PatientID or StudyInstanceUID, instances that disagree, a study already filed under another
   * patient). The reason names attributes and pseudonyms, never original values.
   */
  | Held
  /** Not sent: de-identification could not be verified. The reason names tags and kinds, never values. */
  | { readonly kind: 'failed'; readonly reason: string };

export interface SeriesReport {
  readonly profile: string;
  readonly edition: string;
  readonly keyId: string;
  readonly instances: number;
  readonly counts: Record<string, number>;
  readonly invalidDates: number;
  readonly uidsMapped: number;
}

/** A DicomEdit 6 script ready to run with the series' labels as variables. */
export interface ScriptRunner {
  readonly name: string;
  run(elements: Element[], vars: Readonly<Record<string, string>>, host: ScriptHost): Element[];
}

export interface SeriesDeps {
  readonly settings: ProjectSettings;
  readonly key: ProjectKey;
  readonly ledger: PseudonymLedger;
  /** The ledger's unit of work: a series' labels are assigned in one (identity.ts). */
  readonly uow: UnitOfWork;
  readonly script: ScriptRunner | null;
  readonly now: () => number;
  /** The study whose session label the series takes (an RT object routed with another study's images). */
  readonly sessionStudyUid?: string | undefined;
  /** I/O threads of the caller; without, files are read and written on libuv's thread pool. */
  readonly io?: IoThreads | undefined;
  /** Refuse instances that declare burned-in text (the offline command without --allow-burned-in). */
  readonly refuseBurnedIn?: boolean | undefined;
  /** Transform steps switched off: tests only (see TransformStep). */
  readonly skip?: ReadonlySet<TransformStep | 'identity'> | undefined;
}

/** The name of the `index`th output file of a series: in input order, so output stays repeatable. */
export function outputName(index: number): string {
  return `${String(index + 1).padStart(6, '0')}.dcm`;
}
