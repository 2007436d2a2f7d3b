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
  build,
  createModel,
  idleRows,
  makeTimestamp,
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

  it('gives a merged scan whose number is taken by another series the next free number', async () => {
    const m = model();
    await archived(m);
    await archiveRow(m, addFile(m, target, 'S1', file({ sopInstanceUid: '6', seriesUid: '9.9' }), 1), merge);
    expect([...(m.archive.get('P')?.get('E')?.files.values() ?? [])].map((f) => [f.seriesUid, f.scanId])).toEqual([
      ['1.5', '1'],
      ['9.9', '2'],
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
