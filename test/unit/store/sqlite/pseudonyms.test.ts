// The pseudonym ledger over a real, migrated SQLite file.
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PseudonymLedger } from '../../../../src/contracts/pseudonyms.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createPseudonymLedger, LookupConflictError } from '../../../../src/store/sqlite/pseudonyms.ts';
import { iterateUidMap } from '../../../../src/store/sqlite/uid-map.ts';
import {
  SESSION_PATTERN_TOKENS,
  SUBJECT_PATTERN_TOKENS,
  validatePattern,
} from '../../../../src/store/pseudonym-pattern.ts';

const P = 'PROJ';
const PATTERN = '{project}_{seq:06}';

describe('createPseudonymLedger', () => {
  let dir: string;
  let file: string;
  let db: Db;
  let ledger: PseudonymLedger;
  const extra: Db[] = [];

  const reopen = (): PseudonymLedger => {
    const other = openDb(file);
    extra.push(other);
    return createPseudonymLedger(other);
  };
  const auto = (patientId: string, issuer = '', l = ledger, project = P, pattern = PATTERN): Promise<string | null> =>
    l.subject({ project, issuer, patientId, mode: 'auto', pattern, at: 1_000 });
  const lookup = (patientId: string, issuer = ''): Promise<string | null> =>
    ledger.subject({ project: P, issuer, patientId, mode: 'lookup', pattern: PATTERN, at: 1_000 });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-pseudonyms-'));
    file = join(dir, 'gateway.db');
    db = openDb(file);
    ledger = createPseudonymLedger(db);
  });
  afterEach(() => {
    for (const h of [db, ...extra.splice(0)]) {
      if (h.open) {
        h.close();
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('assigns auto labels in sequence, zero-padded to the pattern width', async () => {
    expect(await auto('A')).toBe('PROJ_000001');
    expect(await auto('B')).toBe('PROJ_000002');
    expect(await auto('A')).toBe('PROJ_000001');
    expect(await auto('C', '', ledger, 'P2', 'S{seq}')).toBe('S1');
    expect(await auto('D', '', ledger, 'P2', 'S{seq:03}')).toBe('S002');
  });

  it('keeps the same label for the same patient after the database is reopened', async () => {
    const label = await auto('A');
    db.close();
    db = openDb(file);
    ledger = createPseudonymLedger(db);
    expect(await auto('A')).toBe(label);
    expect(await auto('B')).toBe('PROJ_000002');
  });

  it('treats the same PatientID from another issuer as another patient, and trims DICOM padding', async () => {
    expect(await auto('123', 'HOSP_A')).toBe('PROJ_000001');
    expect(await auto('123', 'HOSP_B')).toBe('PROJ_000002');
    expect(await auto('123')).toBe('PROJ_000003');
    expect(await auto('123 ', ' HOSP_A')).toBe('PROJ_000001');
  });

  it('keeps projects apart', async () => {
    expect(await auto('A', '', ledger, 'P1', '{project}_{seq:02}')).toBe('P1_01');
    expect(await auto('A', '', ledger, 'P2', '{project}_{seq:02}')).toBe('P2_01');
  });

  it('makes labels from the pattern XNAT-safe', async () => {
    expect(await auto('A', '', ledger, 'My Project.v2', '{project}__{seq}')).toBe('My_Project_v2_1');
  });

  it('throws a clear error for an unknown token, and validatePattern names the problem', async () => {
    await expect(auto('A', '', ledger, P, '{project}_{n}')).rejects.toThrow(
      /Invalid label pattern: unknown token \{n\}/,
    );
    expect(validatePattern('{project}_{seq:06}', SUBJECT_PATTERN_TOKENS)).toBeNull();
    expect(validatePattern('{subject}_{seq:02}', SESSION_PATTERN_TOKENS)).toBeNull();
    expect(validatePattern('{subject}_{seq}', SUBJECT_PATTERN_TOKENS)).toMatch(/unknown token \{subject\}/);
    expect(validatePattern('{project}', SUBJECT_PATTERN_TOKENS)).toMatch(/no \{seq\}.*every subject the same label/);
    expect(validatePattern('{project}_{seq', SUBJECT_PATTERN_TOKENS)).toMatch(/brace/);
    expect(validatePattern('{project:03}_{seq}', SUBJECT_PATTERN_TOKENS)).toMatch(/only \{seq\} takes a width/);
  });

  it('refuses a pattern whose labels the 64-character cap makes identical, instead of looping', async () => {
    const long = 'X'.repeat(64);
    expect(await auto('A', '', ledger, long, '{project}{seq}')).toBe(long);
    await expect(auto('B', '', ledger, long, '{project}{seq}')).rejects.toThrow(
      /same label for different sequence numbers/,
    );
  });

  it('in lookup mode gives null for an unknown patient and never invents a label', async () => {
    expect(await lookup('A')).toBeNull();
    expect(await ledger.rows(P)).toEqual([]);
    expect(await ledger.importLookup(P, [{ issuer: '', patientId: 'A', subject: 'SUBJ_A' }], 2_000)).toBe(1);
    expect(await lookup('A')).toBe('SUBJ_A');
    expect(await lookup('B')).toBeNull();
  });

  it('imports a lookup table: adds, relabels, leaves identical rows alone', async () => {
    expect(
      await ledger.importLookup(
        P,
        [
          { issuer: '', patientId: 'A', subject: 'S1' },
          { issuer: 'H', patientId: 'B', subject: 'S2' },
        ],
        2_000,
      ),
    ).toBe(2);
    expect(
      await ledger.importLookup(
        P,
        [
          { issuer: '', patientId: 'A', subject: 'S1' },
          { issuer: 'H', patientId: 'B', subject: 'S3' },
        ],
        3_000,
      ),
    ).toBe(1);
    expect(await lookup('B', 'H')).toBe('S3');
    expect((await ledger.rows(P)).map((r) => [r.original, r.label, r.source, r.createdAt])).toEqual([
      ['A', 'S1', 'lookup', 2_000],
      ['B', 'S3', 'lookup', 3_000],
    ]);
  });

  it('refuses a label held by another patient, naming the row, and imports nothing', async () => {
    await auto('A');
    const rows = [
      { issuer: '', patientId: 'B', subject: 'NEW_B' },
      { issuer: '', patientId: 'C', subject: 'PROJ_000001' },
    ];
    let err: unknown;
    try {
      await ledger.importLookup(P, rows, 2_000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LookupConflictError);
    expect((err as LookupConflictError).index).toBe(1);
    expect((err as Error).message).toMatch(/label "PROJ_000001" already belongs to another patient/);
    expect((err as Error).message).not.toContain('C');
    expect(await lookup('B')).toBeNull();
  });

  it('refuses conflicting rows inside one table and unsafe labels', async () => {
    const conflict = [
      { issuer: '', patientId: 'A', subject: 'S1' },
      { issuer: '', patientId: 'B', subject: 'S1' },
    ];
    await expect(ledger.importLookup(P, conflict, 1)).rejects.toThrow(/already belongs to another patient/);
    const twice = [
      { issuer: '', patientId: 'A', subject: 'S1' },
      { issuer: '', patientId: 'A', subject: 'S2' },
    ];
    await expect(ledger.importLookup(P, twice, 1)).rejects.toThrow(/earlier row with a different label/);
    await expect(ledger.importLookup(P, [{ issuer: '', patientId: 'A', subject: 'DOE^JOHN' }], 1)).rejects.toThrow(
      /not XNAT-safe/,
    );
    await expect(ledger.importLookup(P, [{ issuer: '', patientId: ' ', subject: 'S' }], 1)).rejects.toThrow(
      /patient ID is empty/,
    );
    expect(await ledger.rows()).toEqual([]);
  });

  it('never hands out an auto label twice: skips labels a lookup took and numbers relabelled patients away', async () => {
    await ledger.importLookup(P, [{ issuer: '', patientId: 'L', subject: 'PROJ_000001' }], 1);
    expect(await auto('A')).toBe('PROJ_000002');
    // A relabels to a lookup label; its old auto label must not go to the next patient.
    await ledger.importLookup(P, [{ issuer: '', patientId: 'A', subject: 'KNOWN_A' }], 2);
    expect(await auto('B')).toBe('PROJ_000003');
  });

  it('a known patient keeps its label when the project switches mode', async () => {
    const label = await auto('A');
    expect(await lookup('A')).toBe(label);
  });

  it('assigns session labels with a sequence per subject, stable per study', async () => {
    const s = async (subject: string, studyUid: string, pattern = '{subject}_{seq:02}'): Promise<string> =>
      (await ledger.session({ project: P, subject, studyUid, pattern, at: 5, issuer: '', patientId: subject })).label;
    expect(await s('PROJ_000001', '1.1')).toBe('PROJ_000001_01');
    expect(await s('PROJ_000001', '1.2')).toBe('PROJ_000001_02');
    expect(await s('PROJ_000002', '2.1')).toBe('PROJ_000002_01');
    expect(await s('PROJ_000001', '1.1')).toBe('PROJ_000001_01');
    expect(await s('PROJ_000001', '1.3', '{project}_{subject}_MR{seq}')).toBe('PROJ_PROJ_000001_MR3');
    await expect(s('X', '9.9', '{subject}_{visit}')).rejects.toThrow(/unknown token \{visit\}/);
  });

  it("answers with the patient a study's session was assigned for, so a study under another patient shows", async () => {
    const q = {
      project: P,
      subject: 'PROJ_000001',
      studyUid: '7.7',
      pattern: '{subject}_{seq:02}',
      at: 5,
      issuer: 'H ',
      patientId: ' A',
    };
    expect(await ledger.session(q)).toEqual({
      label: 'PROJ_000001_01',
      subject: 'PROJ_000001',
      patient: { issuer: 'H', patientId: 'A' },
    });
    // The same study asked for by another patient: the existing session, with its own patient.
    expect(await ledger.session({ ...q, subject: 'PROJ_000002', patientId: 'B' })).toEqual({
      label: 'PROJ_000001_01',
      subject: 'PROJ_000001',
      patient: { issuer: 'H', patientId: 'A' },
    });
  });

  it("gives profile none's first study the plain label and later studies a numbered one, unique in the project", async () => {
    const s = async (studyUid: string, first: string): Promise<string> =>
      (
        await ledger.session({
          project: P,
          subject: 'Smith_Anna',
          studyUid,
          pattern: '{subject}_{seq:02}',
          at: 5,
          issuer: '',
          patientId: 'MRN7',
          firstLabel: first,
        })
      ).label;
    expect(await s('1.1', 'MRN7')).toBe('MRN7');
    expect(await s('1.2', 'MRN7')).toBe('MRN7_2');
    expect(await s('1.1', 'MRN7')).toBe('MRN7');
    expect(await s('1.3', 'MRN7')).toBe('MRN7_3');
    const long = 'L'.repeat(64);
    expect(await s('2.1', long)).toBe(long);
    expect(await s('2.2', long)).toBe(`${'L'.repeat(62)}_2`);
  });

  it('exports subjects and sessions oldest first, filtered by project', async () => {
    await ledger.subject({ project: P, issuer: 'H', patientId: 'A', mode: 'auto', pattern: PATTERN, at: 10 });
    await ledger.session({
      project: P,
      subject: 'PROJ_000001',
      studyUid: '1.2.3',
      pattern: '{subject}_{seq}',
      at: 20,
      issuer: 'H',
      patientId: 'A',
    });
    await ledger.subject({ project: 'OTHER', issuer: '', patientId: 'A', mode: 'auto', pattern: PATTERN, at: 15 });
    expect(await ledger.rows(P)).toEqual([
      { project: P, kind: 'subject', issuer: 'H', original: 'A', label: 'PROJ_000001', source: 'auto', createdAt: 10 },
      {
        project: P,
        kind: 'session',
        issuer: 'PROJ_000001',
        original: '1.2.3',
        label: 'PROJ_000001_1',
        source: 'auto',
        createdAt: 20,
      },
    ]);
    expect((await ledger.rows()).map((r) => r.project)).toEqual([P, 'OTHER', P]);
  });

  it('records UID pairs idempotently and refuses a different replacement for a known original', async () => {
    await ledger.recordUids(
      P,
      new Map([
        ['1.2.3', '2.25.1'],
        ['1.2.4', '2.25.2'],
      ]),
      1,
    );
    await ledger.recordUids(P, new Map([['1.2.3', '2.25.1']]), 2);
    await ledger.recordUids(P, new Map(), 3);
    expect([...iterateUidMap(db, P)]).toEqual([
      { project: P, original: '1.2.3', replacement: '2.25.1', createdAt: 1 },
      { project: P, original: '1.2.4', replacement: '2.25.2', createdAt: 1 },
    ]);
    await expect(
      ledger.recordUids(
        P,
        new Map([
          ['1.2.9', '2.25.9'],
          ['1.2.3', '2.25.99'],
        ]),
        4,
      ),
    ).rejects.toThrow(/different replacement/);
    // All or nothing: the new pair of the failed call is not kept.
    expect([...iterateUidMap(db)]).toHaveLength(2);
  });

  it('knownReplacements answers for thousands of UIDs at once (no SQLite variable limit)', async () => {
    const pairs = new Map<string, string>();
    for (let i = 0; i < 40_000; i++) {
      pairs.set(`1.2.${String(i)}`, `2.25.${String(i)}`);
    }
    await ledger.recordUids(P, pairs, 1);
    const asked = [...pairs.values()].filter((_, i) => i % 2 === 0);
    asked.push('2.25.unknown', '1.2.5');
    const known = await ledger.knownReplacements(P, asked);
    expect(known.size).toBe(20_000);
    expect(known.has('2.25.0')).toBe(true);
    expect(known.has('1.2.5')).toBe(false);
    expect((await ledger.knownReplacements('OTHER', asked)).size).toBe(0);
    expect((await ledger.knownReplacements(P, [])).size).toBe(0);
  });

  it('two ledgers on the same file agree and never duplicate a label', async () => {
    const other = reopen();
    const labels = new Map<string, string | null>();
    for (let i = 0; i < 20; i++) {
      const l = i % 2 ? ledger : other;
      labels.set(`p${String(i % 7)}`, await auto(`p${String(i % 7)}`, '', l));
    }
    expect(new Set(labels.values()).size).toBe(7);
    for (const [patient, label] of labels) {
      expect(await auto(patient, '', other)).toBe(label);
    }
  });

  it('threads assigning concurrently on the same file never hand out one label twice', async () => {
    // Each worker opens its own connection, waits at a barrier, then assigns the same 60 patients.
    const workerCode = `
      const { workerData, parentPort } = require('node:worker_threads');
      (async () => {
        const { openDb } = await import(workerData.dbUrl);
        const { createPseudonymLedger } = await import(workerData.ledgerUrl);
        const db = openDb(workerData.file);
        const ledger = createPseudonymLedger(db);
        const barrier = new Int32Array(workerData.barrier);
        Atomics.add(barrier, 0, 1);
        while (Atomics.load(barrier, 0) < workerData.workers) { Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 5); }
        const out = [];
        for (let i = 0; i < 60; i++) {
          const patientId = 'pat' + ((i * 7 + workerData.offset) % 60);
          out.push([patientId, await ledger.subject({ project: 'PROJ', issuer: '', patientId, mode: 'auto', pattern: '{project}_{seq:06}', at: i })]);
        }
        db.close();
        parentPort.postMessage(out);
      })().catch((err) => { throw err; });`;
    const barrier = new SharedArrayBuffer(4);
    const workers = 3;
    const results = await Promise.all(
      Array.from(
        { length: workers },
        (_, w) =>
          new Promise<[string, string][]>((resolve, reject) => {
            const worker = new Worker(workerCode, {
              eval: true,
              workerData: {
                file,
                barrier,
                workers,
                offset: w * 13,
                dbUrl: new URL('../../../../src/store/sqlite/db.ts', import.meta.url).href,
                ledgerUrl: new URL('../../../../src/store/sqlite/pseudonyms.ts', import.meta.url).href,
              },
            });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    const byPatient = new Map<string, string>();
    for (const [patientId, label] of results.flat()) {
      expect(byPatient.get(patientId) ?? label).toBe(label);
      byPatient.set(patientId, label);
    }
    expect(byPatient.size).toBe(60);
    expect(new Set(byPatient.values()).size).toBe(60);
    expect(await ledger.rows(P)).toHaveLength(60);
    expect([...byPatient.values()].sort()).toEqual(
      Array.from({ length: 60 }, (_, i) => `PROJ_${String(i + 1).padStart(6, '0')}`),
    );
  });

  it('keeps the database owner-only, and tightens a restored copy that was left readable', () => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
    db.close();
    chmodSync(file, 0o644);
    db = openDb(file);
    ledger = createPseudonymLedger(db);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o077).toBe(0);
  });
});
