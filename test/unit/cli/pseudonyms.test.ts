// `xnat-gateway pseudonyms export|import` in-process, against a real ledger in a temp data directory.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { parseCsv } from '../../../src/csv.ts';
import { CommandError } from '../../../src/cli/command.ts';
import { ExitCode } from '../../../src/cli/exit-codes.ts';
import { pseudonymsCommand, type PseudonymsOptions } from '../../../src/cli/pseudonyms.ts';
import { buildConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { openDb } from '../../../src/store/sqlite/db.ts';
import { createPseudonymLedger } from '../../../src/store/sqlite/pseudonyms.ts';
import type { PseudonymLedger } from '../../../src/contracts/pseudonyms.ts';

describe('pseudonymsCommand', () => {
  let dir: string;
  let cfg: Config;
  let out: MockInstance;
  let log: MockInstance;
  let err: MockInstance;

  const withLedger = async <T>(
    fn: (ledger: PseudonymLedger, db: ReturnType<typeof openDb>) => T,
  ): Promise<Awaited<T>> => {
    const db = openDb(join(cfg.dataDir, 'gateway.db'));
    try {
      return await fn(createPseudonymLedger(db), db);
    } finally {
      db.close();
    }
  };
  // A function, so the read is not narrowed by the assignment before the awaited call.
  const exitCode = (): number => Number(process.exitCode ?? 0);
  // As main.ts does: an operator's error is printed and becomes the exit code.
  const runOn = async (c: typeof cfg, args: string[], values: PseudonymsOptions = {}): Promise<number> => {
    process.exitCode = undefined;
    try {
      await pseudonymsCommand(c, args, values);
    } catch (e) {
      if (!(e instanceof CommandError)) {
        throw e;
      }
      console.error(e.message);
      return e.exitCode;
    }
    const code = exitCode();
    process.exitCode = undefined;
    return code;
  };
  const run = (args: string[], values: PseudonymsOptions = {}): Promise<number> => runOn(cfg, args, values);
  const stdout = (): string => out.mock.calls.map((c) => String(c[0])).join('');
  const stderr = (): string => err.mock.calls.map((c) => String(c[0])).join('\n');
  const csvFile = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-cli-pseudonyms-'));
    cfg = buildConfig({ dataDir: join(dir, 'data') }, {}, dir);
    await withLedger(() => undefined);
    out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports subjects and sessions to stdout as CSV with ISO times', async () => {
    await withLedger(async (l) => {
      await l.subject({
        project: 'P',
        issuer: 'H',
        patientId: '123',
        mode: 'auto',
        pattern: '{project}_{seq:03}',
        at: Date.UTC(2025, 0, 2),
      });
      await l.session({
        project: 'P',
        subject: 'P_001',
        studyUid: '1.2.3',
        pattern: '{subject}_{seq:02}',
        at: Date.UTC(2025, 0, 3),
        issuer: 'H',
        patientId: '123',
      });
      await l.subject({
        project: 'Q',
        issuer: '',
        patientId: '9',
        mode: 'auto',
        pattern: '{project}_{seq:03}',
        at: Date.UTC(2025, 0, 4),
      });
    });
    expect(await run(['export'], { project: 'P' })).toBe(0);
    expect(stdout()).toBe(
      'project,kind,issuer,original,label,source,created_at\r\n' +
        'P,subject,H,123,P_001,auto,2025-01-02T00:00:00.000Z\r\n' +
        'P,session,P_001,1.2.3,P_001_01,auto,2025-01-03T00:00:00.000Z\r\n',
    );
  });

  it('writes --output owner-only and refuses to overwrite an existing file', async () => {
    await withLedger((l) =>
      l.subject({ project: 'P', issuer: '', patientId: '1', mode: 'auto', pattern: 'S{seq}', at: 0 }),
    );
    const file = join(dir, 'ledger.csv');
    expect(await run(['export'], { output: file })).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseCsv(readFileSync(file, 'utf8')).map((r) => r.fields[4])).toEqual(['label', 'S1']);
    writeFileSync(file, 'keep me');
    expect(await run(['export'], { output: file })).toBe(ExitCode.USAGE);
    expect(stderr()).toMatch(/exists; refusing to overwrite/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('exports the UID map of one project as MIDI-style id_old,id_new', async () => {
    await withLedger(async (l) => {
      await l.recordUids(
        'P',
        new Map([
          ['1.2.3', '2.25.7'],
          ['1.2.4', '2.25.8'],
        ]),
        1,
      );
      await l.recordUids('Q', new Map([['1.2.3', '2.25.9']]), 1);
    });
    expect(await run(['export'], { project: 'P', uids: true })).toBe(0);
    expect(stdout()).toBe('id_old,id_new\r\n1.2.3,2.25.7\r\n1.2.4,2.25.8\r\n');
    expect(await run(['export'], { uids: true })).toBe(ExitCode.USAGE);
    expect(stderr()).toMatch(/--uids needs --project/);
  });

  it('imports an Excel lookup table (BOM, CRLF, any header case, extra columns) and reports counts', async () => {
    const file = csvFile(
      'map.csv',
      '\uFEFFPatientID,Notes,Subject\r\n123,"first, visit",SUBJ_01\r\n456,,SUBJ_02\r\n,,\r\n',
    );
    expect(await run(['import', file], { project: 'P' })).toBe(0);
    expect(log.mock.calls.join('\n')).toMatch(/2 added, 0 relabelled, 0 unchanged/);
    expect(
      await withLedger((l) =>
        l.subject({ project: 'P', issuer: '', patientId: '123', mode: 'lookup', pattern: '', at: 0 }),
      ),
    ).toBe('SUBJ_01');
    const again = csvFile(
      'map2.csv',
      'patient_id;issuer_of_patient_id;label\n123;;SUBJ_01\n456;;SUBJ_20\n789;HOSP;SUBJ_03\n',
    );
    expect(await run(['import', again], { project: 'P' })).toBe(0);
    expect(log.mock.calls.join('\n')).toMatch(/1 added, 1 relabelled, 1 unchanged/);
    expect(
      await withLedger((l) =>
        l.subject({ project: 'P', issuer: 'HOSP', patientId: '789', mode: 'lookup', pattern: '', at: 0 }),
      ),
    ).toBe('SUBJ_03');
  });

  it("re-imports its own export: only this project's subject rows count", async () => {
    await withLedger(async (l) => {
      await l.subject({ project: 'P', issuer: '', patientId: '1', mode: 'auto', pattern: 'S{seq}', at: 0 });
      await l.session({
        project: 'P',
        subject: 'S1',
        studyUid: '1.2.3',
        pattern: '{subject}_{seq}',
        at: 0,
        issuer: '',
        patientId: '1',
      });
      await l.subject({ project: 'Q', issuer: '', patientId: '2', mode: 'auto', pattern: 'Q{seq}', at: 0 });
    });
    const file = join(dir, 'export.csv');
    expect(await run(['export'], { output: file })).toBe(0);
    expect(await run(['import', file], { project: 'P' })).toBe(0);
    expect(log.mock.calls.join('\n')).toMatch(
      /0 added, 0 relabelled, 1 unchanged, 2 rows of other kinds or projects skipped/,
    );
    expect(
      await withLedger(async (l) => (await l.rows('P')).filter((r) => r.kind === 'subject').map((r) => r.source)),
    ).toEqual(['lookup']);
  });

  it('names the expected headers when a column is missing', async () => {
    const file = csvFile('bad.csv', 'mrn,subject\n1,S1\n');
    expect(await run(['import', file], { project: 'P' })).toBe(ExitCode.DATAERR);
    expect(stderr()).toMatch(/no original patient ID column.*patient_id, patientid, original, old/);
  });

  it('refuses a label that is not XNAT-safe with its line number, without the patient ID, importing nothing', async () => {
    const file = csvFile('unsafe.csv', 'original,new\nP-77,GOOD_1\n"P-88\nsecond line",ALSO_OK\nSECRET-99,DOE^JOHN\n');
    expect(await run(['import', file], { project: 'P' })).toBe(ExitCode.DATAERR);
    expect(stderr()).toMatch(/line 5: the subject label contains "\^"/);
    expect(stderr()).not.toMatch(/SECRET|DOE/);
    expect(await withLedger((l) => l.rows())).toEqual([]);
  });

  it('maps a ledger conflict to its CSV line and imports nothing', async () => {
    await withLedger((l) =>
      l.subject({ project: 'P', issuer: '', patientId: 'A', mode: 'auto', pattern: 'S{seq}', at: 0 }),
    );
    const file = csvFile('conflict.csv', 'old,new\nB,NEW_B\n\nSECRET-C,S1\n');
    expect(await run(['import', file], { project: 'P' })).toBe(ExitCode.DATAERR);
    expect(stderr()).toMatch(
      /conflict\.csv line 4: the label "S1" already belongs to another patient in project P\. Nothing was imported\./,
    );
    expect(stderr()).not.toMatch(/SECRET/);
    expect(await withLedger((l) => l.rows('P'))).toHaveLength(1);
  });

  it('reports unreadable, non-UTF-8 and malformed files with sysexits codes', async () => {
    expect(await run(['import', join(dir, 'missing.csv')], { project: 'P' })).toBe(ExitCode.NOINPUT);
    expect(await run(['import', csvFile('latin1.csv', '')], { project: 'P' })).toBe(ExitCode.DATAERR);
    writeFileSync(join(dir, 'latin1.csv'), Buffer.from([0x69, 0x64, 0x0a, 0xe9, 0x0a]));
    expect(await run(['import', join(dir, 'latin1.csv')], { project: 'P' })).toBe(ExitCode.DATAERR);
    expect(stderr()).toMatch(/not UTF-8/);
    expect(await run(['import', csvFile('quote.csv', 'old,new\n"1,S1\n')], { project: 'P' })).toBe(ExitCode.DATAERR);
    expect(stderr()).toMatch(/quote\.csv line 2: a quoted field is not closed/);
  });

  it('needs a file and --project for import, and a known verb', async () => {
    expect(await run(['import', 'x.csv'])).toBe(ExitCode.USAGE);
    expect(await run(['import'], { project: 'P' })).toBe(ExitCode.USAGE);
    expect(await run(['frobnicate'])).toBe(ExitCode.USAGE);
    expect(await run([])).toBe(ExitCode.USAGE);
    expect(await run(['export', 'extra'])).toBe(ExitCode.USAGE);
  });

  it('does not create a database where there is none (wrong --config)', async () => {
    const empty = buildConfig({ dataDir: join(dir, 'elsewhere') }, {}, dir);
    expect(await runOn(empty, ['export'])).toBe(ExitCode.NOINPUT);
    expect(existsSync(join(dir, 'elsewhere', 'gateway.db'))).toBe(false);
  });
});
