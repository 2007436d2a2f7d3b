//! XNAT's project/subject/session mapping for a received object (reference/xnat.md §2a).
import type { Header } from './dicom.ts';

/** Where an object goes: the prearchive row identity plus the auto-archive flag. */
export interface Target {
  readonly project: string | null;
  readonly subject: string;
  readonly label: string;
  readonly autoArchive: boolean;
}

/** What the routing may ask of the projects: exists and writable by the uploading user. */
export type ProjectCheck = (project: string) => boolean;

/**
 * XNAT's ContainedAssignmentExtractor: `(?:\A|(?:.*[\s,;]))KEY\s*:\s*([\w\-]*)(?:(?:[\s,;].*\Z)|\Z)`,
 * case-insensitive, applied with Matcher.matches() — the whole value must match, so a value with
 * a character outside `[\w-]` right after the key's value matches nothing at all.
 */
export function containedAssignment(value: string | null, key: string): string | null {
  if (value === null) {
    return null;
  }
  const m = new RegExp(`^(?:.*[\\s,;])?${key}\\s*:\\s*([\\w\\-]*)(?:[\\s,;].*)?$`, 'i').exec(value);
  const v = m?.[1];
  return v === undefined || v === '' ? null : v;
}

/** A label taken whole from a header (PatientName, PatientID) stops at the first character outside `[A-Za-z0-9_-]`. */
export function truncateLabel(value: string | null): string | null {
  const v = /^[A-Za-z0-9_-]*/.exec(value ?? '')?.[0] ?? '';
  return v === '' ? null : v;
}

function comments(h: Header): (string | null)[] {
  return [h.patientComments, h.studyComments, h.additionalPatientHistory];
}

/** The project from header rules 2–6 of §2a; a project that does not pass `usable` is skipped. */
export function headerProject(h: Header, usable: ProjectCheck): string | null {
  const candidates = [
    ...comments(h).map((c) => containedAssignment(c, 'Project')),
    // Xnat15DicomProjectIdentifier: Study Description, then Accession Number, as whole values.
    h.studyDescription,
    h.accessionNumber,
  ];
  return candidates.find((c): c is string => c !== null && usable(c)) ?? null;
}

export function headerSubject(h: Header): string {
  return (
    comments(h)
      .map((c) => containedAssignment(c, 'Subject'))
      .find((v) => v !== null) ??
    truncateLabel(h.patientName) ??
    ''
  );
}

export function headerSession(h: Header): string {
  // GradualDicomImporter: StringUtils.defaultIfBlank(identifier.getSessionLabel(o), "dicom_upload").
  return (
    comments(h)
      .map((c) => containedAssignment(c, 'Session'))
      .find((v) => v !== null) ??
    truncateLabel(h.patientId) ??
    'dicom_upload'
  );
}

function headerAutoArchive(h: Header): boolean {
  return comments(h).some((c) => containedAssignment(c, 'AA')?.toLowerCase() === 'true');
}

/** A parsed `dest` URI (`/prearchive[/projects/P]`, `/archive/projects/P[/subjects/S[/experiments/E]]`). */
export interface Destination {
  readonly archive: boolean;
  readonly project?: string;
  readonly subject?: string;
  readonly label?: string;
}

/** Parses `dest`; undefined when absent, null when malformed ("Parameter dest format error"). */
export function parseDest(dest: string | undefined): Destination | null | undefined {
  if (dest === undefined || dest === '') {
    return undefined;
  }
  const path = dest.replace(/^\/data(?=\/)/, '').replace(/\/+$/, '');
  if (path === '/prearchive') {
    return { archive: false };
  }
  const pre = /^\/prearchive\/projects\/([^/]+)$/.exec(path);
  if (pre?.[1] !== undefined) {
    return { archive: false, project: pre[1] };
  }
  const arc = /^\/archive\/projects\/([^/]+)(?:\/subjects\/([^/]+)(?:\/experiments\/([^/]+))?)?$/.exec(path);
  if (arc?.[1] === undefined) {
    return null;
  }
  return {
    archive: true,
    project: arc[1],
    ...(arc[2] ? { subject: arc[2] } : {}),
    ...(arc[3] ? { label: arc[3] } : {}),
  };
}

/** Request parameters that name the target explicitly (rule 0 of §2a). */
export interface Explicit {
  readonly project?: string | undefined;
  readonly subject?: string | undefined;
  readonly label?: string | undefined;
  readonly autoArchive: boolean;
}

/** Applies rule 0 (explicit parameters, only for a usable project), then the header rules. */
export function resolveTarget(h: Header, explicit: Explicit, usable: ProjectCheck): Target {
  const project =
    explicit.project !== undefined && usable(explicit.project) ? explicit.project : headerProject(h, usable);
  return {
    project,
    subject: explicit.subject ?? headerSubject(h),
    label: explicit.label ?? headerSession(h),
    autoArchive: explicit.autoArchive || headerAutoArchive(h),
  };
}

/**
 * The explicit target of an import request. DICOM-zip copies `dest`'s properties over the
 * parameters and then the lower-case `project`/`subject`/`session` over those
 * (DicomZipImporter.call); gradual-DICOM reads only PROJECT_ID/SUBJECT_ID/EXPT_LABEL.
 */
export function explicitTarget(
  q: Record<string, string | undefined>,
  zip: boolean,
  dest: Destination | undefined,
): Explicit {
  const isTrue = (v: string | undefined): boolean => v?.toLowerCase() === 'true';
  // DicomZipImporter sets AA from dest when there is one, overriding an AA parameter.
  const autoArchive = dest ? dest.archive : isTrue(q.AA) || isTrue(q['auto-archive']);
  if (!zip) {
    return { project: q.PROJECT_ID, subject: q.SUBJECT_ID, label: q.EXPT_LABEL, autoArchive };
  }
  return {
    project: q.project ?? dest?.project ?? q.PROJECT_ID,
    subject: q.subject ?? dest?.subject ?? q.SUBJECT_ID,
    label: q.session ?? dest?.label ?? q.EXPT_LABEL,
    autoArchive,
  };
}
