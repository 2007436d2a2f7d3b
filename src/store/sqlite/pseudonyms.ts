//! The pseudonym ledger: per-project subject and session labels and the UID map, over SQLite.
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import { chmodSync, existsSync, statSync } from 'node:fs';
import type { Db } from './db.ts';
import { XNAT_LABEL_MAX, isXnatSafeLabel } from '../../dicom/labels.ts';
import { render, SESSION_PATTERN_TOKENS, SUBJECT_PATTERN_TOKENS } from '../pseudonym-pattern.ts';
import type { PseudonymLedger, PseudonymRow, SessionAssignment } from '../../contracts/pseudonyms.ts';

/** A lookup-table row the ledger refused; `index` is the row's position in the imported array. */
export class LookupConflictError extends Error {
  override readonly name = 'LookupConflictError';
  readonly index: number;
  constructor(index: number, message: string) {
    super(message);
    this.index = index;
  }
}

type SessionQuery = Parameters<PseudonymLedger['session']>[0];
interface SessionRow {
  label: string;
  subject: string;
  issuer: string | null;
  patientId: string | null;
}

function assignment(r: SessionRow): SessionAssignment {
  return {
    label: r.label,
    subject: r.subject,
    patient: r.patientId === null ? null : { issuer: r.issuer ?? '', patientId: r.patientId },
  };
}

/** DICOM LO values (PatientID, IssuerOfPatientID) carry no significant leading/trailing spaces. */
const norm = (s: string): string => s.trim();

/** The ledger links pseudonyms back to patients: keep its database file and WAL owner-only. */
function restrictToOwner(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) {
      chmodSync(f, 0o600);
    }
  }
}

/**
 * The pseudonym ledger over `db` (migrated by openDb). Assignments run in `BEGIN IMMEDIATE`
 * transactions, so the daemon and the offline CLI sharing the file never hand out one label twice.
 * Also tightens the database file to 0600 if a restore or copy left it readable by others.
 */
export function pseudonymLedgerSync(db: Db): Sync<PseudonymLedger> {
  if (!db.memory) {
    restrictToOwner(db.name);
  }
  const subjectOf = db
    .prepare(`SELECT label FROM pseudonym_subjects WHERE project = ? AND issuer = ? AND patient_id = ?`)
    .pluck();
  const subjectByLabel = db.prepare(
    `SELECT issuer, patient_id AS patientId FROM pseudonym_subjects WHERE project = ? AND label = ?`,
  );
  const subjectTaken = db.prepare(`SELECT 1 FROM pseudonym_subjects WHERE project = ? AND label = ?`).pluck();
  const insertSubject = db.prepare(
    `INSERT INTO pseudonym_subjects (project, issuer, patient_id, label, source, seq, created_at) VALUES (?, ?, ?, ?, 'auto', ?, ?)`,
  );
  // A relabel keeps the row (and its id) but records when the new label was imported.
  const upsertLookup = db.prepare(
    `INSERT INTO pseudonym_subjects (project, issuer, patient_id, label, source, seq, created_at) VALUES (?, ?, ?, ?, 'lookup', NULL, ?)
     ON CONFLICT (project, issuer, patient_id) DO UPDATE SET label = excluded.label, source = 'lookup', seq = NULL, created_at = excluded.created_at
     WHERE label <> excluded.label OR source <> 'lookup'`,
  );
  const sessionOf = db.prepare(
    `SELECT label, subject_label AS subject, issuer, patient_id AS patientId FROM pseudonym_sessions WHERE project = ? AND study_uid = ?`,
  );
  const sessionTaken = db.prepare(`SELECT 1 FROM pseudonym_sessions WHERE project = ? AND label = ?`).pluck();
  const insertSession = db.prepare(
    `INSERT INTO pseudonym_sessions (project, study_uid, subject_label, label, seq, created_at, issuer, patient_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const counter = db
    .prepare(`SELECT next_seq FROM pseudonym_counters WHERE project = ? AND kind = ? AND scope = ?`)
    .pluck();
  const setCounter = db.prepare(
    `INSERT INTO pseudonym_counters (project, kind, scope, next_seq) VALUES (?, ?, ?, ?)
     ON CONFLICT (project, kind, scope) DO UPDATE SET next_seq = excluded.next_seq`,
  );
  const uidOf = db.prepare(`SELECT replacement FROM uid_map WHERE project = ? AND original = ?`).pluck();
  const insertUid = db.prepare(`INSERT INTO uid_map (project, original, replacement, created_at) VALUES (?, ?, ?, ?)`);
  // json_each takes the whole list as one bound value: no SQLite variable limit to chunk around.
  const known = db
    .prepare(
      `SELECT DISTINCT replacement FROM uid_map WHERE project = ? AND replacement IN (SELECT value FROM json_each(?))`,
    )
    .pluck();
  const rows = db.prepare(
    `SELECT project, 'subject' AS kind, issuer, patient_id AS original, label, source, created_at AS createdAt
       FROM pseudonym_subjects WHERE @project IS NULL OR project = @project
     UNION ALL
     SELECT project, 'session', subject_label, study_uid, label, 'auto', created_at
       FROM pseudonym_sessions WHERE @project IS NULL OR project = @project
     ORDER BY createdAt, kind DESC, project, label`,
  );

  /**
   * The next free label from the (project, kind, scope) counter. A label already taken (by a
   * lookup row) is skipped; the counter only grows, so no label is ever handed out twice.
   */
  function nextLabel(
    project: string,
    kind: 'subject' | 'session',
    scope: string,
    make: (seq: number) => string,
  ): { label: string; seq: number } {
    const taken = kind === 'subject' ? subjectTaken : sessionTaken;
    const tried = new Set<string>();
    for (let seq = (counter.get(project, kind, scope) as number | undefined) ?? 1; ; seq++) {
      const label = make(seq);
      if (tried.has(label)) {
        // Only possible when the 64-character cap cut the number off: the loop would never end.
        throw new Error(
          `The ${kind} label pattern of project ${project} gives the same label for different sequence numbers (longer than 64 characters?).`,
        );
      }
      tried.add(label);
      if (taken.get(project, label) === undefined) {
        setCounter.run(project, kind, scope, seq + 1);
        return { label, seq };
      }
    }
  }

  const assignSubject = db.transaction(
    (project: string, issuer: string, patientId: string, pattern: string, at: number): string => {
      // Re-read inside the write lock: another process may have assigned this patient meanwhile.
      const existing = subjectOf.get(project, issuer, patientId) as string | undefined;
      if (existing !== undefined) {
        return existing;
      }
      const { label, seq } = nextLabel(project, 'subject', '', (n) =>
        render(pattern, SUBJECT_PATTERN_TOKENS, { project }, n),
      );
      insertSubject.run(project, issuer, patientId, label, seq, at);
      return label;
    },
  );

  /** `first`, else `first_2`, `first_3` … (cut so the suffix fits 64 characters): profile none's labels. */
  function plainThenNumbered(project: string, first: string): { label: string; seq: number } {
    for (let seq = 1; ; seq++) {
      const suffix = seq === 1 ? '' : `_${String(seq)}`;
      const label = `${first.slice(0, XNAT_LABEL_MAX - suffix.length)}${suffix}`;
      if (sessionTaken.get(project, label) === undefined) {
        return { label, seq };
      }
    }
  }

  const assignSession = db.transaction((q: SessionQuery): SessionAssignment => {
    const existing = sessionOf.get(q.project, q.studyUid) as SessionRow | undefined;
    if (existing !== undefined) {
      return assignment(existing);
    }
    const { label, seq } =
      q.firstLabel !== undefined
        ? plainThenNumbered(q.project, q.firstLabel)
        : nextLabel(q.project, 'session', q.subject, (n) =>
            render(q.pattern, SESSION_PATTERN_TOKENS, { project: q.project, subject: q.subject }, n),
          );
    insertSession.run(q.project, q.studyUid, q.subject, label, seq, q.at, norm(q.issuer), norm(q.patientId));
    return { label, subject: q.subject, patient: { issuer: norm(q.issuer), patientId: norm(q.patientId) } };
  });

  const recordUids = db.transaction((project: string, pairs: ReadonlyMap<string, string>, at: number) => {
    for (const [original, replacement] of pairs) {
      const existing = uidOf.get(project, original) as string | undefined;
      if (existing === undefined) {
        insertUid.run(project, original, replacement, at);
      } else if (existing !== replacement) {
        // The keyed UID function is deterministic per project key: a different answer means the
        // key changed, and references to data already sent would no longer resolve.
        throw new Error(
          `The UID map of project ${project} already maps an original UID to a different replacement; was the project's UID key replaced?`,
        );
      }
    }
  });

  const importLookup = db.transaction(
    (project: string, input: readonly { issuer: string; patientId: string; subject: string }[], at: number): number => {
      const seen = new Map<string, string>();
      let changed = 0;
      input.forEach((row, index) => {
        const issuer = norm(row.issuer);
        const patientId = norm(row.patientId);
        const label = row.subject;
        if (patientId === '') {
          throw new LookupConflictError(index, 'the original patient ID is empty');
        }
        if (!isXnatSafeLabel(label)) {
          throw new LookupConflictError(
            index,
            'the subject label is not XNAT-safe (only A-Z a-z 0-9 _ -, 1 to 64 characters)',
          );
        }
        const key = JSON.stringify([issuer, patientId]);
        const before = seen.get(key);
        if (before !== undefined && before !== label) {
          throw new LookupConflictError(index, 'the same patient appears on an earlier row with a different label');
        }
        seen.set(key, label);
        const holder = subjectByLabel.get(project, label) as { issuer: string; patientId: string } | undefined;
        if (holder && (holder.issuer !== issuer || holder.patientId !== patientId)) {
          throw new LookupConflictError(
            index,
            `the label "${label}" already belongs to another patient in project ${project}`,
          );
        }
        changed += upsertLookup.run(project, issuer, patientId, label, at).changes;
      });
      return changed;
    },
  );

  return {
    subject(q) {
      const issuer = norm(q.issuer);
      const patientId = norm(q.patientId);
      // Fast path without the write lock: a known patient keeps the label it has, whatever the
      // mode (data already in XNAT is under it). Lookup mode never invents one.
      const existing = subjectOf.get(q.project, issuer, patientId) as string | undefined;
      if (existing !== undefined) {
        return existing;
      }
      if (q.mode === 'lookup') {
        return null;
      }
      return assignSubject.immediate(q.project, issuer, patientId, q.pattern, q.at);
    },
    session(q) {
      const existing = sessionOf.get(q.project, q.studyUid) as SessionRow | undefined;
      return existing ? assignment(existing) : assignSession.immediate(q);
    },
    studySession(project, studyUid) {
      const existing = sessionOf.get(project, studyUid) as SessionRow | undefined;
      return existing ? assignment(existing) : null;
    },
    recordUids: (project, pairs, at) => {
      if (pairs.size) {
        recordUids.immediate(project, pairs, at);
      }
    },
    knownReplacements(project, uids) {
      if (!uids.length) {
        return new Set();
      }
      return new Set(known.all(project, JSON.stringify(uids)) as string[]);
    },
    importLookup: (project, input, at) => importLookup.immediate(project, input, at),
    rows: (project) => rows.all({ project: project ?? null }) as PseudonymRow[],
  };
}

/** The async PseudonymLedger over SQLite: each call waits its turn on the connection (turns.ts). */
export function createPseudonymLedger(db: Db): PseudonymLedger {
  return serialised<PseudonymLedger>(db, pseudonymLedgerSync(db));
}
