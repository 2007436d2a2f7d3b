//! The fake XNAT's prearchive identity, archive conflict rules and authentication, without sockets.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  archiveRow,
  autoArchiveOptions,
  HAS_FILES,
  MODALITY_MOD,
  overwriteOptions,
  PRE_EXISTS,
  UID_MOD,
} from '../../helpers/fake-xnat/archive.ts';
import { createAuth, csrfProblem } from '../../helpers/fake-xnat/auth.ts';
import {
  addFile,
  assignScanIds,
  build,
  createModel,
  idleRows,
  makeTimestamp,
  scanIdFor,
  type FileRec,
  type Model,
} from '../../helpers/fake-xnat/model.ts';

const file = (o: Partial<FileRec> = {}): FileRec => ({
  name: 'a.dcm',
  sopClassUid: '1.2',
  sopInstanceUid: '1.3.1',
  md5: 'x',
  size: 1,
  seriesUid: '1.5',
  scanId: '1',
  seriesDescription: null,
  modality: 'CT',
  ...o,
});
const target = { project: 'P', subject: 'S', label: 'E', autoArchive: false };
const model = (): Model =>
  createModel([{ id: 'P' }, { id: 'A4', prearchiveCode: 4 }, { id: 'A5', prearchiveCode: 5 }], 1000);
const merge = overwriteOptions('append', undefined);

describe('prearchive rows', () => {
  it('joins rows by project, study and label; a re-sent instance overwrites; READY/CONFLICT go back to RECEIVING', () => {
    const m = model();
    const row = addFile(m, target, 'S1', file(), 0);
    addFile(m, target, 'S1', file({ md5: 'y' }), 1);
    row.status = 'CONFLICT';
    expect(addFile(m, target, 'S1', file({ sopInstanceUid: '1.3.2' }), 2)).toBe(row);
    expect([row.status, row.files.size, row.files.get('1.2|1.3.1')?.md5]).toEqual(['RECEIVING', 2, 'y']);
    expect(addFile(m, target, 'S2', file(), 3)).not.toBe(row);
    expect(m.rows.map((r) => r.folderName)).toEqual(['E', 'E']);
  });

  it('starts label_1, label_2 rows while the session is archiving', () => {
    const m = model();
    addFile(m, target, 'S1', file(), 0).status = 'ARCHIVING';
    addFile(m, target, 'S1', file(), 1).status = 'ARCHIVING';
    expect(addFile(m, target, 'S1', file(), 2).folderName).toBe('E_2');
  });

  it('stamps rows yyyyMMdd_HHmmssSSS, never twice the same', () => {
    const m = model();
    const at = new Date(2024, 0, 2, 3, 4, 5, 6).getTime();
    expect([makeTimestamp(m, at), makeTimestamp(m, at)]).toEqual(['20240102_030405006', '20240102_030405007']);
  });

  it('finds idle RECEIVING rows after idleMs', () => {
    const m = model();
    addFile(m, target, 'S1', file(), 0);
    expect([idleRows(m, 999, false).length, idleRows(m, 1000, false).length, idleRows(m, 0, true).length]).toEqual([
      0, 1, 1,
    ]);
  });
});

describe('archiving', () => {
  async function archived(m: Model, f: FileRec = file()): Promise<void> {
    expect(await archiveRow(m, addFile(m, target, 'S1', f, 0), merge)).toEqual({
      ok: true,
      uri: '/data/archive/projects/P/subjects/S/experiments/E',
    });
  }

  it('refuses an existing session without merge, then merges new scans with append', async () => {
    const m = model();
    await archived(m);
    const again = addFile(m, target, 'S1', file({ sopInstanceUid: '9', seriesUid: '2.1', scanId: '2' }), 1);
    expect(await archiveRow(m, again, overwriteOptions(undefined, undefined))).toEqual({
      ok: false,
      message: PRE_EXISTS,
    });
    expect([again.status, again.message]).toEqual(['CONFLICT', PRE_EXISTS]);
    expect((await archiveRow(m, again, merge)).ok).toBe(true);
    expect(m.rows).toEqual([]);
  });

  it('applies the modality, UID and matching-files rules, overridden by overwrite=delete', async () => {
    const m = model();
    await archived(m);
    const mr = addFile(m, target, 'S1', file({ sopInstanceUid: '8', modality: 'MR', seriesUid: '3', scanId: '3' }), 1);
    expect(await archiveRow(m, mr, merge)).toEqual({ ok: false, message: MODALITY_MOD });
    m.rows.length = 0;
    expect(
      await archiveRow(
        m,
        addFile(m, target, 'S9', file({ sopInstanceUid: '7', seriesUid: '4', scanId: '4' }), 1),
        merge,
      ),
    ).toEqual({ ok: false, message: UID_MOD });
    m.rows.length = 0;
    expect(await archiveRow(m, addFile(m, target, 'S1', file(), 1), merge)).toEqual({ ok: false, message: HAS_FILES });
    m.rows.length = 0;
    expect(
      (await archiveRow(m, addFile(m, target, 'S1', file({ md5: 'z' }), 1), { ...merge, overwriteFiles: true })).ok,
    ).toBe(true);
    expect(m.archive.get('P')?.get('E')?.files.get('1.2|1.3.1')?.md5).toBe('z');
    expect((await archiveRow(m, addFile(m, target, 'S9', file(), 1), overwriteOptions('delete', undefined))).ok).toBe(
      true,
    );
    expect(m.archive.get('P')?.get('E')?.studyUid).toBe('S9');
  });

  it('renames a merged scan whose number another series holds as ScanIdValidator does: {id}-{code}{n}', async () => {
    const m = model();
    await archived(m);
    const add = (o: Partial<FileRec>, at: number): ReturnType<typeof addFile> =>
      addFile(m, target, 'S1', file({ name: `${o.sopInstanceUid ?? ''}.dcm`, ...o }), at);
    await archiveRow(m, add({ sopInstanceUid: '6', seriesUid: '9.9' }, 1), merge);
    await archiveRow(m, add({ sopInstanceUid: '5', seriesUid: '9.8' }, 2), merge);
    // A re-sent series joins its scan.
    expect((await archiveRow(m, add({ sopInstanceUid: '7', seriesUid: '9.9' }, 3), merge)).ok).toBe(true);
    // An RT object in a CT upload, alone in its number there, gets its scan type's code (other DICOM: OT).
    const row = add({ sopInstanceUid: '3', seriesUid: '9.6', scanId: '3' }, 4);
    add({ sopInstanceUid: '4', seriesUid: '9.7', modality: 'RTSTRUCT' }, 4);
    expect((await archiveRow(m, row, merge)).ok).toBe(true);
    expect([...(m.archive.get('P')?.get('E')?.files.values() ?? [])].map((f) => [f.seriesUid, f.scanId])).toEqual([
      ['1.5', '1'],
      ['9.9', '1-CT1'],
      ['9.8', '1-CT2'],
      ['9.9', '1-CT1'],
      ['9.6', '3'],
      ['9.7', '1-OT1'],
    ]);
  });

  it('names the scans of one build like DICOMSessionBuilder: by number, by UID without one, N-MOD{i} when shared', () => {
    const files = assignScanIds([
      file({ seriesUid: '1.9', scanId: '2' }),
      file({ seriesUid: '1.10', scanId: '2', sopInstanceUid: 'b' }),
      file({ seriesUid: '1.8', scanId: '2', modality: 'RTSTRUCT', sopInstanceUid: 'c' }),
      file({ seriesUid: '1.7', scanId: '2', modality: null, sopInstanceUid: 'd' }),
      file({ seriesUid: '1.6', scanId: '3', sopInstanceUid: 'e' }),
    ]);
    // Series in UID order within the number ('1.10' < '1.9' as text, as Java's TreeMap sorts them).
    expect(files.map((f) => [f.seriesUid, f.scanId])).toEqual([
      ['1.9', '2-CT2'],
      ['1.10', '2-CT1'],
      ['1.8', '2-RTSTRUCT1'],
      ['1.7', '2-OT1'],
      ['1.6', '3'],
    ]);
    expect([
      scanIdFor(null, '2.25.12-3'),
      scanIdFor(' ', '1.2'),
      scanIdFor('007', '1.2'),
      scanIdFor('+7', '1'),
    ]).toEqual(['2_25_12_3', '1_2', '007', '_7']);
  });

  it('keeps the type an archived session was created with: a CT merged into an RT session is refused', async () => {
    const m = model();
    const rt = file({ modality: 'RTSTRUCT', scanId: '9', seriesUid: '7.1' });
    expect((await archiveRow(m, addFile(m, target, 'S1', rt, 0), merge)).ok).toBe(true);
    const session = m.archive.get('P')?.get('E');
    expect(session?.xsiType).toBe('xnat:rtSessionData');
    // A CT added as a scan by REST does not make it a CT session.
    session?.files.set('x', file({ sopInstanceUid: 'x' }));
    const ct = addFile(m, target, 'S1', file({ sopInstanceUid: 'y', seriesUid: '7.2', scanId: '3' }), 1);
    expect(await archiveRow(m, ct, merge)).toEqual({ ok: false, message: MODALITY_MOD });
  });

  it('refuses a series XNAT holds under another number unless exceptions are overridden, then joins that scan', async () => {
    const m = model();
    await archived(m);
    const moved = (): ReturnType<typeof addFile> =>
      addFile(m, target, 'S1', file({ sopInstanceUid: '2', scanId: '5' }), 1);
    expect(await archiveRow(m, moved(), merge)).toEqual({
      ok: false,
      message: 'Session already contains a scan with the same UID, but a different number (1).',
    });
    m.rows.length = 0;
    // Number 1 taken by another series and our UID held as 5: the validator moves ours to 5, no error.
    const m2 = model();
    await archived(m2, file({ seriesUid: '3.3', sopInstanceUid: 'z', scanId: '5', name: 'z.dcm' }));
    await archiveRow(m2, addFile(m2, target, 'S1', file({ sopInstanceUid: 'w', seriesUid: '4.4' }), 1), merge);
    const r = await archiveRow(
      m2,
      addFile(m2, target, 'S1', file({ sopInstanceUid: 'v', seriesUid: '3.3', scanId: '1' }), 2),
      merge,
    );
    expect(r.ok).toBe(true);
    expect([...(m2.archive.get('P')?.get('E')?.files.values() ?? [])].map((f) => [f.seriesUid, f.scanId])).toEqual([
      ['3.3', '5'],
      ['4.4', '1'],
      ['3.3', '5'],
    ]);
  });

  it("auto-archives by prearchive_code (4 without merge, 5 with overwrite) or the upload's AA flag", () => {
    const m = model();
    const row = (project: string, autoArchive = false): ReturnType<typeof addFile> =>
      addFile(m, { ...target, project, autoArchive }, 'S', file(), 0);
    expect([
      autoArchiveOptions(m, row('P')),
      autoArchiveOptions(m, row('A4'))?.allowSessionMerge,
      autoArchiveOptions(m, row('A5'))?.overwriteFiles,
    ]).toEqual([null, false, true]);
    const aa = row('P', true);
    build(aa);
    expect([aa.status, autoArchiveOptions(m, aa)?.allowSessionMerge]).toEqual(['READY', true]);
  });
});

describe('authentication', () => {
  const req = (h: Record<string, string>, method = 'GET'): IncomingMessage =>
    ({ headers: h, method }) as unknown as IncomingMessage;
  const basic = (u: string, p: string): Record<string, string> => ({
    authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
  });

  it('expires sessions after sessionTtlMs of inactivity and accepts alias tokens until invalidated', () => {
    let now = 0;
    const auth = createAuth({ admin: 'admin' }, 100, () => now);
    const id = auth.openSession('admin');
    now = 90;
    expect(auth.identify(req({ cookie: `JSESSIONID=${id}` }))?.auth).toBe('session');
    now = 180;
    expect(auth.identify(req({ cookie: `a=b; JSESSIONID=${id}` }))?.user).toBe('admin');
    now = 281;
    expect(auth.identify(req({ cookie: `JSESSIONID=${id}` }))).toBeNull();
    const t = auth.issueToken('admin');
    expect(auth.identify(req(basic(t.alias, t.secret)))).toEqual({ user: 'admin', auth: 'alias' });
    expect([auth.invalidateToken(t.alias, t.secret), auth.identify(req(basic(t.alias, t.secret)))]).toEqual([
      true,
      null,
    ]);
    expect(
      auth.identify(req({ ...basic('admin', 'wrong'), cookie: `JSESSIONID=${auth.openSession('admin')}` })),
    ).toBeNull();
  });

  it('asks for XNAT_CSRF only on browser requests riding on a session', () => {
    const session = { user: 'admin', auth: 'session', sessionId: 'S' } as const;
    const browser = { 'user-agent': 'Mozilla/5.0 (X11; Linux)' };
    expect(csrfProblem(req(browser, 'POST'), session, {}, 'T')).toBe('INVALID CSRF (no token)');
    expect(csrfProblem(req(browser, 'POST'), session, { XNAT_CSRF: 'T' }, 'T')).toBeNull();
    expect(csrfProblem(req(browser, 'GET'), session, {}, 'T')).toBeNull();
    expect(csrfProblem(req({ 'user-agent': 'Mozilla/5.0 XNATDesktopClient' }, 'POST'), session, {}, 'T')).toBeNull();
    expect(csrfProblem(req(browser, 'POST'), { user: 'admin', auth: 'basic' }, {}, null)).toBeNull();
  });
});
