//! The fake XNAT's state: projects, prearchive rows keyed like PrearcDatabase, and the archive.
import type { DicomObject } from './dicom.ts';
import type { Target } from './routing.ts';
import type { FakeProject, FakeScan, PrearchiveStatus } from './types.ts';
import { scanType } from './xsi.ts';

/** One stored file, as the session catalog records it. */
export interface FileRec {
  readonly name: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly md5: string;
  readonly size: number;
  readonly seriesUid: string;
  /**
   * The scan id: at receipt XNAT's id for the series alone (SeriesNumber, else its UID), set to the
   * session's final id by `build` (`N-CT1`… when series share a number) and by a merge's renaming.
   */
  readonly scanId: string;
  readonly seriesDescription: string | null;
  readonly modality: string | null;
}

/** A scan created by REST (PUT …/scans/{id}): XNAT keeps the UID and type the request declared. */
export interface DeclaredScan {
  readonly uid: string;
  readonly xsiType: string;
}

export interface ProjectRec {
  readonly id: string;
  readonly writers: ReadonlySet<string> | null;
  prearchiveCode: 0 | 4 | 5;
}

/** A prearchive row (PrearcDatabase's SessionData plus the files in its folder). */
export interface Row {
  /** Mutable: `action=move` moves a row between projects. */
  project: string | null;
  readonly subject: string;
  readonly label: string;
  readonly studyUid: string;
  readonly timestamp: string;
  readonly folderName: string;
  readonly uploaded: number;
  status: PrearchiveStatus;
  lastmod: number;
  autoArchive: boolean;
  message?: string;
  /** Key: SOP Class UID + SOP Instance UID (a re-sent instance overwrites, as getSafeFile does). */
  readonly files: Map<string, FileRec>;
  /** The scans as of the last build (the session XML); null until first built. */
  built: FileRec[] | null;
}

/** An archived experiment. */
export interface ArchivedRec {
  readonly id: string;
  readonly project: string;
  readonly subject: string;
  readonly label: string;
  studyUid: string;
  /** The session's XSI type, fixed when it was first archived (XNAT never changes it on a merge). */
  readonly xsiType: string;
  readonly files: Map<string, FileRec>;
  /** Scans created by PUT, by id (their files, once uploaded, are in `files`). */
  readonly declared: Map<string, DeclaredScan>;
}

export interface Model {
  readonly projects: Map<string, ProjectRec>;
  readonly rows: Row[];
  /** project → label → session. */
  readonly archive: Map<string, Map<string, ArchivedRec>>;
  /** project → subject label → subject accession id. */
  readonly subjects: Map<string, Map<string, string>>;
  readonly idleMs: number;
  /** How long an archive operation keeps its row ARCHIVING. */
  readonly archiveDelayMs: number;
  nextExperiment: number;
  nextSubject: number;
  lastTimestamp: string;
}

export function createModel(projects: readonly FakeProject[], idleMs: number, archiveDelayMs = 0): Model {
  const m: Model = {
    projects: new Map(),
    rows: [],
    archive: new Map(),
    subjects: new Map(),
    idleMs,
    archiveDelayMs,
    nextExperiment: 1,
    nextSubject: 1,
    lastTimestamp: '',
  };
  for (const p of projects) {
    addProject(m, p);
  }
  return m;
}

export function addProject(m: Model, p: FakeProject): ProjectRec {
  const rec: ProjectRec = {
    id: p.id,
    writers: p.writers ? new Set(p.writers) : null,
    prearchiveCode: p.prearchiveCode ?? 0,
  };
  m.projects.set(p.id, rec);
  return rec;
}

/** Writers may upload, archive and read; the site admin may also read every project. */
export function canWrite(m: Model, user: string, project: string): boolean {
  const p = m.projects.get(project);
  return p !== undefined && (p.writers === null || p.writers.has(user));
}

export function canRead(m: Model, user: string, project: string): boolean {
  return canWrite(m, user, project) || (user === 'admin' && m.projects.has(project));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `yyyyMMdd_HHmmssSSS` in local time (PrearcUtils.makeTimestamp), never the same twice. */
export function makeTimestamp(m: Model, now: number): string {
  let t = now;
  for (;;) {
    const d = new Date(t);
    const ts = `${String(d.getFullYear())}${pad(d.getMonth() + 1)}${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}${pad(d.getMilliseconds(), 3)}`;
    if (ts > m.lastTimestamp) {
      m.lastTimestamp = ts;
      return ts;
    }
    t += 1;
  }
}

/**
 * XNAT's id for a series alone in its number (DICOMSessionBuilder): the SeriesNumber as stored
 * (trimmed text: `007` stays `007`, a leading `+` becomes `_`), else the Series Instance UID with
 * every non-word character made `_`.
 */
export function scanIdFor(seriesNumber: string | null, seriesUid: string): string {
  const n = seriesNumber?.trim() ?? '';
  return n !== '' ? n.replace(/^\+/, '_') : seriesUid.replace(/\W/g, '_');
}

/**
 * The scan ids of a session build (DICOMSessionBuilder): one scan per Series Instance UID, named by
 * its number; when several series share a number each becomes `{N}-{Modality}{index}` (index per
 * modality, series in UID order; `OT` without a modality), e.g. `2-CT1`, `2-RTSTRUCT1`.
 */
export function assignScanIds(files: Iterable<FileRec>): FileRec[] {
  const all = [...files];
  const byNumber = new Map<string, Map<string, string | null>>();
  for (const f of all) {
    const uids = byNumber.get(f.scanId) ?? new Map<string, string | null>();
    if (!uids.has(f.seriesUid)) {
      uids.set(f.seriesUid, f.modality);
    }
    byNumber.set(f.scanId, uids);
  }
  const finalId = new Map<string, string>();
  for (const [n, uids] of byNumber) {
    if (uids.size === 1) {
      continue;
    }
    const counts = new Map<string, number>();
    for (const uid of [...uids.keys()].sort()) {
      const modality = uids.get(uid) || 'OT';
      const index = (counts.get(modality) ?? 0) + 1;
      counts.set(modality, index);
      finalId.set(`${n}|${uid}`, `${n}-${modality}${String(index)}`);
    }
  }
  return all.map((f) => {
    const id = finalId.get(`${f.scanId}|${f.seriesUid}`);
    return id === undefined ? f : { ...f, scanId: id };
  });
}

export function fileRecOf(o: DicomObject): FileRec {
  const h = o.header;
  const seriesUid = h.seriesUid ?? '';
  return {
    name: o.name,
    sopClassUid: h.sopClassUid ?? '',
    sopInstanceUid: h.sopInstanceUid ?? '',
    md5: o.md5,
    size: o.size,
    seriesUid,
    scanId: scanIdFor(h.seriesNumber, seriesUid),
    seriesDescription: h.seriesDescription,
    modality: h.modality,
  };
}

const BUSY: readonly PrearchiveStatus[] = ['ARCHIVING'];

/**
 * PrearcDatabase.eitherGetOrCreateSession: join the row with the same project, study UID and
 * session name unless it is busy archiving; then a new row gets the folder name `label_1`, `_2`….
 */
export function addFile(m: Model, t: Target, studyUid: string, file: FileRec, now: number): Row {
  const same = m.rows.filter((r) => r.project === t.project && r.studyUid === studyUid && r.label === t.label);
  let row = same.find((r) => !BUSY.includes(r.status));
  if (!row) {
    // Only a busy row of the same session makes the suffix necessary (its folder would clash).
    const taken = new Set(same.map((r) => r.folderName));
    let folderName = t.label;
    for (let n = 1; taken.has(folderName); n++) {
      folderName = `${t.label}_${String(n)}`;
    }
    row = {
      project: t.project,
      subject: t.subject,
      label: t.label,
      studyUid,
      timestamp: makeTimestamp(m, now),
      folderName,
      uploaded: now,
      status: 'RECEIVING',
      lastmod: now,
      autoArchive: false,
      files: new Map(),
      built: null,
    };
    m.rows.push(row);
  }
  row.status = 'RECEIVING';
  row.lastmod = now;
  row.autoArchive ||= t.autoArchive;
  delete row.message;
  row.files.set(`${file.sopClassUid}|${file.sopInstanceUid}`, file);
  return row;
}

/** Builds the session document: the scans are frozen as they are now and the row is READY. */
export function build(row: Row): void {
  row.built = assignScanIds(row.files.values());
  row.status = 'READY';
}

export function removeRow(m: Model, row: Row): void {
  const i = m.rows.indexOf(row);
  if (i >= 0) {
    m.rows.splice(i, 1);
  }
}

/**
 * The scans of `files`, one per scan id (a session cannot hold two scans with one id), in id order.
 * `declared` scans (created by PUT) keep the UID and type they were created with, files or not.
 */
export function scansOf(files: Iterable<FileRec>, declared?: ReadonlyMap<string, DeclaredScan>): FakeScan[] {
  const scans = new Map<string, FakeScan>();
  for (const [id, d] of declared ?? []) {
    scans.set(id, { id, seriesUid: d.uid, seriesDescription: null, modality: null, xsiType: d.xsiType, files: [] });
  }
  for (const f of files) {
    let scan = scans.get(f.scanId);
    if (!scan) {
      scan = {
        id: f.scanId,
        seriesUid: f.seriesUid,
        seriesDescription: f.seriesDescription,
        modality: f.modality,
        xsiType: scanType(f.modality),
        files: [],
      };
      scans.set(f.scanId, scan);
    } else if (scan.modality === null && scan.files.length === 0) {
      scan = { ...scan, seriesDescription: f.seriesDescription, modality: f.modality };
      scans.set(f.scanId, scan);
    }
    scan.files.push({ sopInstanceUid: f.sopInstanceUid, sopClassUid: f.sopClassUid, md5: f.md5, size: f.size });
  }
  return [...scans.values()].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

/** `/prearchive/projects/{P|Unassigned}/{timestamp}/{folder}` (no `/data` prefix, as in the row's url). */
export function rowUrl(row: Row): string {
  return `/prearchive/projects/${row.project ?? 'Unassigned'}/${row.timestamp}/${row.folderName}`;
}

export function findRow(m: Model, project: string, timestamp: string, folder: string): Row | undefined {
  const p = project === 'Unassigned' ? null : project;
  return m.rows.find((r) => r.project === p && r.timestamp === timestamp && r.folderName === folder);
}

/** Rows RECEIVING for at least idleMs (all RECEIVING rows when `force`), oldest first. */
export function idleRows(m: Model, now: number, force: boolean): Row[] {
  return m.rows.filter((r) => r.status === 'RECEIVING' && (force || now - r.lastmod >= m.idleMs));
}

export function subjectId(m: Model, project: string, subject: string): string {
  let subjects = m.subjects.get(project);
  if (!subjects) {
    subjects = new Map();
    m.subjects.set(project, subjects);
  }
  let id = subjects.get(subject);
  if (id === undefined) {
    id = `XNAT_S${pad(m.nextSubject++, 5)}`;
    subjects.set(subject, id);
  }
  return id;
}
