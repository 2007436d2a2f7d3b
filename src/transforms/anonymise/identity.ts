//! Subject and session labels from the pseudonym ledger, never given on an absent or conflicting key.
// A series is filed by its patient (IssuerOfPatientID, PatientID; PatientName under profile none)
// and its study (StudyInstanceUID). Pooling every series without a PatientID under one subject, or
// filing a study that arrived before under another patient into that patient's session, would
// merge real patients: such a series is held with its reason instead (issue 19, class 3).
import type { UnitOfWork } from '../../contracts/unit-of-work.ts';
import { xnatSafeLabel } from '../../dicom/labels.ts';
import type { PseudonymLedger, SessionAssignment } from '../../contracts/pseudonyms.ts';
import type { ProjectSettings } from './config.ts';
import type { Labels } from './insert.ts';
import type { OriginalIdentity } from './instance.ts';

/** A series not de-identified, waiting for an operator (see SeriesOutcome). */
export interface Held {
  readonly kind: 'held';
  readonly cause: 'lookup' | 'identity';
  readonly reason: string;
}

/** What labelling needs of the series' dependencies. */
export interface LabelDeps {
  readonly settings: ProjectSettings;
  readonly ledger: PseudonymLedger;
  /** A series is labelled from what the ledger holds, with nothing filed in between. */
  readonly uow: UnitOfWork;
  readonly now: () => number;
  readonly sessionStudyUid?: string | undefined;
  /** 'identity' switches the checks off (tests only: verification must still refuse). */
  readonly skip?: ReadonlySet<string> | undefined;
}

export function identityHeld(reason: string): Held {
  return {
    kind: 'held',
    cause: 'identity',
    reason: `${reason} The series is held so it is not merged with another patient's data; correct the header and send it again, or fail the job.`,
  };
}

/** A key the series would be filed by is absent: never merged under an empty value. */
function missingKey(deps: LabelDeps, id: OriginalIdentity): Held | null {
  if (id.studyUid === '') {
    return identityHeld('StudyInstanceUID is missing or empty, so the series has no session of its own.');
  }
  // Profile none files the subject by PatientName (DASHER); the others by PatientID (and issuer).
  if (deps.settings.profile === 'none' ? id.patientName === '' : id.patientId === '') {
    const key = deps.settings.profile === 'none' ? 'PatientName' : 'PatientID';
    return identityHeld(
      `${key} is missing or empty, so the series has no subject of its own (every such series would share one).`,
    );
  }
  return null;
}

/** The session belongs to another patient: the same StudyInstanceUID arrived under another PatientID or issuer. */
function conflict(a: SessionAssignment, id: OriginalIdentity, subject: string): boolean {
  if (a.patient === null) {
    return a.subject !== subject;
  }
  return a.patient.patientId !== id.patientId.trim() || a.patient.issuer !== id.issuer.trim();
}

function conflictHeld(project: string, a: SessionAssignment): Held {
  return identityHeld(
    `Its StudyInstanceUID is already filed in project ${project} as session ${a.label} of subject ${a.subject}, a different patient (PatientID or IssuerOfPatientID differ).`,
  );
}

/**
 * The labels of a series, assigned in one unit of work: whether its study is filed decides which
 * ledger calls follow, so another series of the study must not be filed between them (it would
 * take a subject from the pattern or the lookup table where the filed study already has one).
 */
export function labelsFor(deps: LabelDeps, id: OriginalIdentity): Promise<Labels | Held> {
  return deps.uow.run(() => assignLabels(deps, id));
}

async function assignLabels(deps: LabelDeps, id: OriginalIdentity): Promise<Labels | Held> {
  const s = deps.settings;
  const checks = !deps.skip?.has('identity');
  if (checks) {
    const missing = missingKey(deps, id);
    if (missing) {
      return missing;
    }
  }
  const at = deps.now();
  const studyUid = deps.sessionStudyUid ?? id.studyUid;
  const patient = { issuer: id.issuer, patientId: id.patientId };
  // A study already filed: every later series joins its session under the subject it was filed
  // under (labels a pull list gave it, or a patient label an import has since changed: the
  // session stays where XNAT has it). Sessions recorded before the ledger kept their patient
  // (migration 0007) take the path below, which compares them by the patient's subject label.
  const filed = await deps.ledger.studySession(s.project, studyUid);
  if (filed !== null && filed.patient !== null) {
    if (checks && conflict(filed, id, filed.subject)) {
      return conflictHeld(s.project, filed);
    }
    return { project: s.project, subject: filed.subject, session: filed.label };
  }
  // The study's session under `subject`, assigned from the pattern (or `firstLabel`) when new.
  const sessionUnder = (subject: string, firstLabel?: string): Promise<SessionAssignment> =>
    deps.ledger.session({
      project: s.project,
      subject,
      studyUid,
      pattern: s.sessionPattern,
      at,
      ...patient,
      ...(firstLabel === undefined ? {} : { firstLabel }),
    });
  if (s.profile === 'none') {
    // DASHER's mapping: PatientName → subject, PatientID → session, made XNAT-safe; a later study
    // of the same patient gets `<PatientID>_2`, … (XNAT refuses a second study under one label).
    const subject = xnatSafeLabel(id.patientName, 'dicom_upload');
    const a = await sessionUnder(subject, xnatSafeLabel(id.patientId, 'dicom_upload'));
    if (checks && conflict(a, id, subject)) {
      return conflictHeld(s.project, a);
    }
    // The session's subject: the one a source gave the study, if it gave one.
    return { project: s.project, subject: a.subject, session: a.label };
  }
  const subject = await deps.ledger.subject({
    project: s.project,
    issuer: id.issuer,
    patientId: id.patientId,
    mode: s.mode,
    pattern: s.subjectPattern,
    at,
    studyUid,
  });
  if (subject === null) {
    return {
      kind: 'held',
      cause: 'lookup',
      reason: `Patient is not in the pseudonym lookup table of project ${s.project}; import it with \`xnat-gateway pseudonyms import\`, then requeue the job.`,
    };
  }
  const a = await sessionUnder(subject);
  if (checks && conflict(a, id, subject)) {
    return conflictHeld(s.project, a);
  }
  return { project: s.project, subject: a.subject, session: a.label };
}

/**
 * Verification of the keys, apart from labelsFor: the study's session in the ledger must belong
 * to this patient, and neither key may be empty. A series that got past labelsFor without these
 * (a defect there) is refused here.
 */
export async function identityProblems(deps: LabelDeps, id: OriginalIdentity, labels: Labels): Promise<string[]> {
  const problems: string[] = [];
  if (missingKey(deps, id)) {
    problems.push('the series lacks a PatientID, PatientName or StudyInstanceUID it is filed by');
  }
  const a = await deps.ledger.session({
    project: deps.settings.project,
    subject: labels.subject,
    studyUid: deps.sessionStudyUid ?? id.studyUid,
    pattern: deps.settings.sessionPattern,
    at: deps.now(),
    issuer: id.issuer,
    patientId: id.patientId,
  });
  if (conflict(a, id, labels.subject) || a.label !== labels.session) {
    problems.push('the session the series is filed in belongs to another patient');
  }
  return problems;
}
