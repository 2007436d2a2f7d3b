//! Identity keys of a series as the router sees them: one patient, and a study not filed for another.
// The route component quarantines a series it cannot key to one patient, so an operator sees it in
// quarantine with its reason instead of its data merging with another patient's (issue 19, class 3).
import type { PseudonymLedger } from '../../contracts/pseudonyms.ts';
import type { RouteReason } from './types.ts';

/** The patient and study a series is filed by (first instance), and whether an instance names another patient. */
export interface SeriesKeys {
  readonly patientId: string;
  readonly issuer: string;
  readonly studyUid: string;
  readonly mixed: boolean;
}

/** What the route component needs besides its config. */
export interface RouteDeps {
  /** Whether an attribute can identify a patient (reasons never show its values). */
  identifying(tag: number): boolean;
  /** The session a study already has in a project's pseudonym ledger (the daemon's ledger), for conflicts. */
  readonly studySession?: PseudonymLedger['studySession'] | undefined;
}

/**
 * A series whose instances name more than one patient, or whose study is already filed in the
 * hospital project under another patient: the reason it is quarantined (no values, a pseudonym).
 */
export async function identityReason(
  k: SeriesKeys | null,
  instances: number,
  project: string,
  studySession: RouteDeps['studySession'],
): Promise<RouteReason | null> {
  if (!k) {
    return null;
  }
  if (k.mixed) {
    return {
      rule: 'builtin:mixed-patients',
      source: 'builtin',
      attribute: 'PatientID',
      instances,
      message:
        'The series holds instances of more than one patient (PatientID or IssuerOfPatientID differ); it is not split or merged.',
    };
  }
  const owner = k.studyUid && k.patientId ? await studySession?.(project, k.studyUid) : null;
  if (!owner) {
    return null;
  }
  const other = owner.patient ? owner.patient.patientId !== k.patientId || owner.patient.issuer !== k.issuer : false;
  if (!other) {
    return null;
  }
  return {
    rule: 'builtin:study-of-another-patient',
    source: 'builtin',
    attribute: 'StudyInstanceUID',
    instances,
    message: `Its StudyInstanceUID is already filed in project ${project} as session ${owner.label} of subject ${owner.subject}, a different patient; it is not merged with it.`,
  };
}
