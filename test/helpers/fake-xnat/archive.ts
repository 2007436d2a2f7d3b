//! Archiving a prearchive row: PrearcSessionArchiver.checkForConflicts and MergeSessionsA, with XNAT's messages.
import { setTimeout as sleep } from 'node:timers/promises';
import { build, removeRow, scansOf, subjectId, type ArchivedRec, type FileRec, type Model, type Row } from './model.ts';
import { modalityCode, scanType, sessionType } from './xsi.ts';

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

export { scanType, sessionType } from './xsi.ts';

interface Merge {
  readonly renumber: Map<string, string>;
}

/**
 * ScanIdValidator: the incoming scans that must move before the merge. A scan whose number another
 * series holds gets `{id}-{code}{n}` (code from its XSI type: CT, MR, OT…; the first free n; an id
 * already ending in `-{code}{n}` keeps its stem); a scan whose UID the session holds under another
 * number is refused unless exceptions are overridden, then it joins that scan.
 */
function scanIdCorrection(
  incoming: readonly FileRec[],
  existing: ArchivedRec,
  o: ArchiveOptions,
): string | Map<string, string> {
  const old = scansOf(existing.files.values(), existing.declared);
  const scans = new Map(incoming.map((f) => [`${f.scanId}|${f.seriesUid}`, f]));
  let needed = false;
  for (const scan of scans.values()) {
    const byId = old.find((x) => x.id === scan.scanId);
    if (byId && byId.seriesUid !== scan.seriesUid && byId.seriesUid !== '') {
      needed = true;
    }
    const byUid = old.find((x) => x.seriesUid === scan.seriesUid);
    if (byUid && !byId && !o.overrideExceptions) {
      return `Session already contains a scan with the same UID, but a different number (${byUid.id}).`;
    }
  }
  const renumber = new Map<string, string>();
  if (!needed) {
    return renumber;
  }
  const used = new Set(old.map((x) => x.id));
  const joined: [string, string][] = [];
  for (const [key, scan] of scans) {
    const code = modalityCode(scanType(scan.modality));
    const byUid = old.find((x) => x.seriesUid === scan.seriesUid);
    if (byUid) {
      if (byUid.id !== scan.scanId || byUid.id.includes(`-${code}`)) {
        joined.push([key, byUid.id]);
      }
      continue;
    }
    const stem = new RegExp(`^.*-${code}[0-9]+$`).test(scan.scanId)
      ? scan.scanId.slice(0, scan.scanId.lastIndexOf('-'))
      : scan.scanId;
    let id = scan.scanId;
    for (let n = 1; used.has(id); n++) {
      id = `${stem}-${code}${String(n)}`;
    }
    used.add(id);
    if (id !== scan.scanId) {
      renumber.set(key, id);
    }
  }
  for (const [key, id] of joined) {
    renumber.set(key, id);
  }
  return renumber;
}

/** checkForConflicts, ScanIdValidator, then MergeSessionsA's file check; returns the scan renumbering. */
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
  // The archived session's type as it was created, not what its scans look like now (XNAT keeps it).
  if (existing.xsiType !== sessionType(incoming)) {
    return MODALITY_MOD;
  }
  if (existing.subject !== subject) {
    // XNAT names the existing session's label here, not the subject.
    return `${SUBJECT_MOD}: ${existing.label} Already Exists for another Subject`;
  }
  if (!o.overrideExceptions && existing.studyUid !== '' && studyUid !== '' && existing.studyUid !== studyUid) {
    return UID_MOD;
  }
  const renumber = scanIdCorrection(incoming, existing, o);
  if (typeof renumber === 'string') {
    return renumber;
  }
  const old = [...existing.files.values()];
  const overwriteFiles = o.overrideExceptions || o.overwriteFiles;
  // Compared after the validator has moved a renumbered scan to its new folder.
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
    xsiType: sessionType(incoming),
    files: new Map(),
    declared: new Map(),
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
