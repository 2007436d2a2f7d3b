//! Archiving a prearchive row: PrearcSessionArchiver.checkForConflicts and MergeSessionsA, with XNAT's messages.
import { setTimeout as sleep } from 'node:timers/promises';
import { build, removeRow, subjectId, type ArchivedRec, type FileRec, type Model, type Row } from './model.ts';

export const PRE_EXISTS = 'Session already exists, retry with overwrite enabled';
export const SUBJECT_MOD = 'Invalid modification of session subject via archive process.';
export const UID_MOD = 'Invalid modification of session UID via archive process.';
export const MODALITY_MOD =
  'Invalid modification of session modality via archive process.  Data may require a manual merge.';
export const HAS_FILES = 'Session already exists with matching files, retry with overwrite=delete enabled';

/** PrearcSessionArchiver's switches, parsed from `overwrite` / `overwrite_files` or the caller. */
export interface ArchiveOptions {
  /** overwrite=append|delete (or the DICOM-zip auto-archive rule). */
  readonly allowSessionMerge: boolean;
  /** overwrite=delete|override: overridable exceptions are ignored and identical files replaced. */
  readonly overrideExceptions: boolean;
  /** overwrite_files=true. */
  readonly overwriteFiles: boolean;
  /** A `dest` naming another project/subject/label for the archived session. */
  readonly project?: string | undefined;
  readonly subject?: string | undefined;
  readonly label?: string | undefined;
}

export type ArchiveResult =
  { readonly ok: true; readonly uri: string } | { readonly ok: false; readonly message: string };

/** Parses XNAT's `overwrite` parameter (none | append | delete, `override` being an old synonym of delete). */
export function overwriteOptions(overwrite: string | undefined, overwriteFiles: string | undefined): ArchiveOptions {
  const o = overwrite?.toLowerCase();
  const override = o === 'delete' || o === 'override';
  return {
    allowSessionMerge: override || o === 'append',
    overrideExceptions: override,
    overwriteFiles: overwriteFiles?.toLowerCase() === 'true',
  };
}

const SESSION_TYPES: Record<string, string> = {
  CT: 'xnat:ctSessionData',
  MR: 'xnat:mrSessionData',
  PT: 'xnat:petSessionData',
  US: 'xnat:usSessionData',
  CR: 'xnat:crSessionData',
  DX: 'xnat:dxSessionData',
  MG: 'xnat:mgSessionData',
  NM: 'xnat:nmSessionData',
  XA: 'xnat:xaSessionData',
  RTSTRUCT: 'xnat:rtSessionData',
  RTPLAN: 'xnat:rtSessionData',
  RTDOSE: 'xnat:rtSessionData',
  RTIMAGE: 'xnat:rtSessionData',
};

/** The session's XSI type from its first imaging modality (RT objects only count when alone). */
export function sessionType(files: Iterable<FileRec>): string {
  const modalities = [...files].map((f) => f.modality ?? '');
  const imaging =
    modalities.find((mod) => SESSION_TYPES[mod] !== undefined && !mod.startsWith('RT')) ??
    modalities.find((mod) => SESSION_TYPES[mod] !== undefined);
  return (imaging && SESSION_TYPES[imaging]) ?? 'xnat:otherDicomSessionData';
}

/** The scan's XSI type from its modality. */
export function scanType(modality: string | null): string {
  const t = SESSION_TYPES[modality ?? ''];
  return t && !(modality ?? '').startsWith('RT') ? t.replace('SessionData', 'ScanData') : 'xnat:otherDicomScanData';
}

interface Merge {
  readonly renumber: Map<string, string>;
}

/** checkForConflicts, then MergeSessionsA.checkForConflict; returns the scan renumbering on success. */
function conflicts(
  incoming: readonly FileRec[],
  subject: string,
  studyUid: string,
  existing: ArchivedRec,
  o: ArchiveOptions,
): string | Merge {
  if (!o.allowSessionMerge) {
    return PRE_EXISTS;
  }
  if (sessionType(existing.files.values()) !== sessionType(incoming)) {
    return MODALITY_MOD;
  }
  if (existing.subject !== subject) {
    // XNAT names the existing session's label here, not the subject.
    return `${SUBJECT_MOD}: ${existing.label} Already Exists for another Subject`;
  }
  if (!o.overrideExceptions && existing.studyUid !== '' && studyUid !== '' && existing.studyUid !== studyUid) {
    return UID_MOD;
  }
  const old = [...existing.files.values()];
  const renumber = new Map<string, string>();
  const used = new Set(old.map((f) => f.scanId));
  for (const scan of new Map(incoming.map((f) => [`${f.scanId}|${f.seriesUid}`, f])).values()) {
    const byId = old.find((f) => f.scanId === scan.scanId);
    const byUid = old.find((f) => f.seriesUid === scan.seriesUid);
    if (byUid && byUid.scanId !== scan.scanId && !o.overrideExceptions) {
      return `Session already contains a scan with the same UID, but a different number (${byUid.scanId}).`;
    }
    if (byId && byId.seriesUid !== scan.seriesUid && byId.seriesUid !== '') {
      // Merging is allowed here (PRE_EXISTS otherwise), so XNAT gives the new scan a free number.
      let n = Math.max(0, ...[...used].map(Number).filter(Number.isFinite)) + 1;
      while (used.has(String(n))) {
        n++;
      }
      used.add(String(n));
      renumber.set(`${scan.scanId}|${scan.seriesUid}`, String(n));
    }
  }
  const overwriteFiles = o.overrideExceptions || o.overwriteFiles;
  // Compared after correctScanID has moved a renumbered scan to its new folder.
  const scanOf = (f: FileRec): string => renumber.get(`${f.scanId}|${f.seriesUid}`) ?? f.scanId;
  const clash = incoming.some((f) =>
    old.some((e) => e.sopInstanceUid === f.sopInstanceUid || (e.scanId === scanOf(f) && e.name === f.name)),
  );
  if (!overwriteFiles && clash) {
    return HAS_FILES;
  }
  return { renumber };
}

function uriOf(s: ArchivedRec): string {
  return `/data/archive/projects/${s.project}/subjects/${s.subject}/experiments/${s.label}`;
}

/**
 * Builds (when not yet built) and archives `row`. On success the row leaves the prearchive and
 * its files join (or create) the archived experiment; on failure it stays in CONFLICT with the
 * message. With `archiveDelayMs` the row is ARCHIVING for that long first (files for the same
 * session then start a new row); without it everything happens before the promise is returned.
 */
export async function archiveRow(m: Model, row: Row, o: ArchiveOptions): Promise<ArchiveResult> {
  if (row.built === null || row.status === 'RECEIVING') {
    build(row);
  }
  if (m.archiveDelayMs > 0) {
    row.status = 'ARCHIVING';
    await sleep(m.archiveDelayMs);
  }
  const project = o.project ?? row.project;
  if (project === null || !m.projects.has(project)) {
    row.status = 'ERROR';
    row.message = 'unable to identify destination project';
    return { ok: false, message: row.message };
  }
  const subject = o.subject ?? row.subject;
  const label = o.label ?? row.label;
  const incoming = row.built ?? [];
  let sessions = m.archive.get(project);
  if (!sessions) {
    sessions = new Map();
    m.archive.set(project, sessions);
  }
  const existing = sessions.get(label);
  const verdict = existing
    ? conflicts(incoming, subject, row.studyUid, existing, o)
    : { renumber: new Map<string, string>() };
  if (typeof verdict === 'string') {
    row.status = 'CONFLICT';
    row.message = verdict;
    return { ok: false, message: verdict };
  }
  subjectId(m, project, subject);
  const target = existing ?? {
    id: `XNAT_E${String(m.nextExperiment++).padStart(5, '0')}`,
    project,
    subject,
    label,
    studyUid: row.studyUid,
    files: new Map(),
  };
  if (o.overrideExceptions) {
    target.studyUid = row.studyUid;
  }
  for (const f of incoming) {
    const scanId = verdict.renumber.get(`${f.scanId}|${f.seriesUid}`) ?? f.scanId;
    target.files.set(`${f.sopClassUid}|${f.sopInstanceUid}`, { ...f, scanId });
  }
  sessions.set(label, target);
  removeRow(m, row);
  return { ok: true, uri: uriOf(target) };
}

/** Archives without waiting (the idle task, a project's own auto-archive); a crash marks the row ERROR. */
export function archiveInBackground(m: Model, row: Row, o: ArchiveOptions): void {
  archiveRow(m, row, o).catch((err: unknown) => {
    row.status = 'ERROR';
    row.message = err instanceof Error ? err.message : String(err);
  });
}

/** What the idle task does after a build: archive per the row's AA flag or the project's prearchive_code. */
export function autoArchiveOptions(m: Model, row: Row): ArchiveOptions | null {
  const code = row.project === null ? 0 : (m.projects.get(row.project)?.prearchiveCode ?? 0);
  if (code === 5) {
    return { allowSessionMerge: true, overrideExceptions: false, overwriteFiles: true };
  }
  if (row.autoArchive) {
    // An upload that asked for auto-archive merges (DicomZipImporter.archiveSession: append = true).
    return { allowSessionMerge: true, overrideExceptions: false, overwriteFiles: false };
  }
  return code === 4 ? { allowSessionMerge: false, overrideExceptions: false, overwriteFiles: false } : null;
}
