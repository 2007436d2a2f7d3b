//! A faithful fake XNAT for tests: REST import, prearchive/archive model, auth, faults and a DICOM SCP.
// The contract it follows is reference/xnat.md §2–§3.3 and §6; see README.md in this folder for
// what it enforces and where it knowingly simplifies.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveInBackground, autoArchiveOptions } from './archive.ts';
import { createAuth } from './auth.ts';
import { createFaultQueue } from './faults.ts';
import { startHttp } from './http.ts';
import { assignScanIds, build, createModel, idleRows, scansOf, type Model } from './model.ts';
import { startScp, type DicomSide } from './scp.ts';
import type {
  DicomFault,
  FakePrearchiveSession,
  FakeSession,
  FakeXnatOptions,
  HttpFault,
  LoggedRequest,
} from './types.ts';

export type {
  DicomFault,
  FakePrearchiveSession,
  FakeProject,
  FakeScan,
  FakeSession,
  FakeXnatOptions,
  HttpFault,
  LoggedRequest,
} from './types.ts';
export { nginxErrorPage } from './faults.ts';

/** A running fake XNAT. */
export interface FakeXnat {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  /** The DICOM SCP, when started with `dicom`. */
  readonly dicom: { readonly port: number; readonly aeTitle: string } | null;
  /** Every HTTP request so far, oldest first (no bodies). */
  readonly requests: readonly LoggedRequest[];
  /** An alias token for `user`, usable as Basic `alias:secret` for two days. */
  issueToken(user: string): { alias: string; secret: string };
  /** Every JSESSIONID is forgotten: requests riding on one now get 401. */
  expireSessions(): void;
  setPassword(user: string, password: string): void;
  inject(f: HttpFault): void;
  injectDicom(f: DicomFault): void;
  /** The archived sessions. */
  archive(): FakeSession[];
  /** The prearchive rows, with the files received so far. */
  prearchive(): FakePrearchiveSession[];
  /** Builds (and auto-archives where due) every RECEIVING prearchive row now, as the idle task would. */
  flushIdle(): void;
  close(): Promise<void>;
}

/**
 * The idle task (SessionXMLRebuilder): build idle RECEIVING rows, then auto-archive where due.
 * Without `archiveDelayMs` the archiving is done when this returns.
 */
function idleTask(m: Model, now: number, force: boolean): void {
  for (const row of idleRows(m, now, force)) {
    build(row);
    const auto = autoArchiveOptions(m, row);
    if (auto) {
      // A failure is recorded on the row (CONFLICT/ERROR), as XNAT records it.
      archiveInBackground(m, row, auto);
    }
  }
}

function snapshot(m: Model): { archive: FakeSession[]; prearchive: FakePrearchiveSession[] } {
  const archive = [...m.archive.values()]
    .flatMap((s) => [...s.values()])
    .map((s) => ({
      project: s.project,
      subject: s.subject,
      label: s.label,
      studyUid: s.studyUid,
      scans: scansOf(s.files.values(), s.declared),
    }));
  const prearchive = m.rows.map((r) => ({
    project: r.project,
    subject: r.subject,
    label: r.label,
    studyUid: r.studyUid,
    scans: scansOf(assignScanIds(r.files.values())),
    timestamp: r.timestamp,
    folderName: r.folderName,
    status: r.status,
    lastmod: r.lastmod,
    autoArchive: r.autoArchive,
    ...(r.message === undefined ? {} : { message: r.message }),
  }));
  return { archive, prearchive };
}

/** Starts the fake on 127.0.0.1 (HTTP, and DICOM when asked), both on free ports. */
export async function startFakeXnat(o: FakeXnatOptions = {}): Promise<FakeXnat> {
  const idleMs = o.idleMs ?? 300_000;
  const model = createModel(o.projects ?? [{ id: 'HOSPITAL' }, { id: 'QUARANTINE' }], idleMs, o.archiveDelayMs);
  const now = (): number => Date.now();
  const auth = createAuth(o.users ?? { admin: 'admin' }, o.sessionTtlMs ?? 900_000, now);
  const faults = createFaultQueue();
  const tmpDir = await mkdtemp(join(tmpdir(), 'fake-xnat-'));
  const http = await startHttp({ model, auth, tmpDir, now }, faults);
  let dicom: DicomSide | null = null;
  if (o.dicom) {
    const aeTitle = (typeof o.dicom === 'object' ? o.dicom.aeTitle : undefined) ?? 'XNAT';
    dicom = await startScp({ aeTitle, model, faults, now });
  }
  const timer = setInterval(
    () => {
      idleTask(model, now(), false);
    },
    Math.max(10, Math.min(idleMs / 4, 1000)),
  );
  timer.unref();
  return {
    url: http.url,
    dicom: dicom && { port: dicom.port, aeTitle: dicom.aeTitle },
    requests: http.requests,
    issueToken: (user) => {
      const t = auth.issueToken(user);
      return { alias: t.alias, secret: t.secret };
    },
    expireSessions: () => {
      auth.expireSessions();
    },
    setPassword: (user, password) => {
      auth.users.set(user, password);
    },
    inject: (f) => {
      faults.inject(f);
    },
    injectDicom: (f) => {
      faults.injectDicom(f);
    },
    archive: () => snapshot(model).archive,
    prearchive: () => snapshot(model).prearchive,
    flushIdle: () => {
      idleTask(model, now(), true);
    },
    close: async () => {
      clearInterval(timer);
      await Promise.all([http.close(), dicom?.close()]);
      await rm(tmpDir, { recursive: true, force: true });
    },
  };
}
