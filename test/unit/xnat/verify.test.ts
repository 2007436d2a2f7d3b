// The verifier against a fake XnatClient answering XNAT's JSON listings: archive first, then the
// prearchive; what counts as verified, mismatched, still building or not yet countable.
import { describe, expect, it } from 'vitest';
import type { XnatClient } from '../../../src/xnat/client.ts';
import { resultRows } from '../../../src/xnat/client.ts';
import { archiveUri, experimentPath } from '../../../src/xnat/paths.ts';
import { xnatScanId } from '../../../src/xnat/series-number.ts';
import { createVerifier } from '../../../src/xnat/verify.ts';
import { verificationDetail, type SentSeries } from '../../../src/xnat/verify-types.ts';

const labels = { project: 'P1', subject: 'S 1', session: 'E1' };
const sent: SentSeries = {
  labels,
  studyInstanceUid: '1.2',
  seriesInstanceUid: '1.2.3',
  instances: 3,
  scanId: '4',
};
const rows = (...r: Record<string, unknown>[]) => ({ ResultSet: { Result: r } });
const exp = 'data/projects/P1/subjects/S%201/experiments/E1';

/** A client answering `json(path)` from a table; paths not in it are 404 (null). */
function fakeClient(answers: Record<string, unknown>): XnatClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    origin: 'http://xnat',
    call: () => Promise.reject(new Error('not used')),
    json: (path) => {
      asked.push(path);
      return Promise.resolve(path in answers ? answers[path] : null);
    },
    login: () => Promise.resolve(),
    checkProject: () => Promise.reject(new Error('not used')),
  };
}

const verify = (answers: Record<string, unknown>, s: SentSeries = sent) =>
  createVerifier(fakeClient(answers))(s, new AbortController().signal);

describe('XNAT paths', () => {
  it('encodes labels in REST paths and leaves receipts as XNAT writes them', () => {
    expect(experimentPath(labels)).toBe(exp);
    expect(archiveUri(labels)).toBe('/data/archive/projects/P1/subjects/S 1/experiments/E1');
  });

  it('reads ResultSet rows and nothing else', () => {
    expect(resultRows(rows({ a: 1 }, { b: 2 }))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(resultRows({ ResultSet: { Result: [1, null, { c: 3 }] } })).toEqual([{ c: 3 }]);
    expect(resultRows(null)).toEqual([]);
    expect(resultRows({ items: [] })).toEqual([]);
  });
});

describe('createVerifier', () => {
  it('verifies an archived session by its scan (UID column) and DICOM file count', async () => {
    const v = await verify({
      [exp]: { items: [] },
      [`${exp}/scans`]: rows({ ID: '4', UID: '1.2.3' }, { ID: '5', UID: '9.9' }),
      [`${exp}/scans/4/resources`]: rows(
        { label: 'DICOM', file_count: '2' },
        { label: 'DICOM', file_count: 1 },
        { label: 'SNAPSHOTS', file_count: 7 },
      ),
    });
    expect(v).toEqual({ ok: true, status: 'ARCHIVED', uri: archiveUri(labels), found: 3, message: null });
    expect(verificationDetail(v, 3)).toEqual({ xnatStatus: 'ARCHIVED', sent: 3, found: 3, uri: archiveUri(labels) });
  });

  it('finds the scan in the session document when the listing has another UID, and reports fewer files', async () => {
    const v = await verify({
      [exp]: { items: [{ children: [{ items: [{ data_fields: { UID: '1.2.3', ID: 7 } }] }] }] },
      [`${exp}/scans`]: rows({ ID: '1', UID: '8.8' }),
      [`${exp}/scans/7/resources`]: rows({ label: 'DICOM', file_count: 2 }),
    });
    expect(v).toMatchObject({ ok: false, status: 'ARCHIVED', found: 2 });
    expect(v.message).toBe("XNAT's scan 7 holds 2 files; 3 were sent.");
  });

  it('says an archived session without the series is a mismatch, and a 404 on its listings is pending', async () => {
    expect(await verify({ [exp]: {}, [`${exp}/scans`]: rows({ ID: '1', UID: '8.8' }) })).toMatchObject({
      ok: false,
      found: 0,
      message: 'Session P1/S 1/E1 is archived but has no scan with this series.',
    });
    expect(await verify({ [exp]: {} })).toMatchObject({ ok: 'pending', status: 'ARCHIVED', found: null });
    expect(await verify({ [exp]: {}, [`${exp}/scans`]: rows({ ID: '4', UID: '1.2.3' }) })).toMatchObject({
      ok: 'pending',
      message: 'Not verified yet: XNAT answered 404 for the resources of scan 4 of session P1/S 1/E1.',
    });
  });

  const pre = 'data/prearchive/projects/P1';
  const folder = `${pre}/20260101_1/E1`;

  it('accepts a prearchive session still being built, and counts a READY one by SeriesNumber', async () => {
    expect(
      await verify({ [pre]: rows({ name: 'E1', subject: 'S 1', status: 'RECEIVING', timestamp: '20260101_1' }) }),
    ).toEqual({
      ok: true,
      status: 'RECEIVING',
      uri: '/data/prearchive/projects/P1/20260101_1/E1',
      found: null,
      message: null,
    });
    const ready = await verify({
      [pre]: rows({ name: 'E1', status: 'READY', timestamp: '20260101_1' }),
      [`${folder}/scans`]: rows({ ID: '4' }),
      [`${folder}/scans/4/resources/DICOM/files`]: rows({}, {}, {}),
    });
    expect(ready).toMatchObject({ ok: true, status: 'READY', found: 3 });
  });

  it("picks the prearchive row the receipt names, and reports CONFLICT with XNAT's message", async () => {
    const v = await verify(
      {
        [pre]: rows(
          { name: 'E1', status: 'READY', timestamp: '20260102_9', lastmod: '2026-01-02' },
          { name: 'E1', status: 'CONFLICT', timestamp: '20260101_1', lastmod: '2026-01-01', message: 'session exists' },
        ),
      },
      { ...sent, receipt: '/data/prearchive/projects/P1/20260101_1/E1' },
    );
    expect(v).toMatchObject({ ok: false, status: 'CONFLICT', found: null });
    expect(v.message).toBe("XNAT's prearchive holds session P1/S 1/E1 in CONFLICT: session exists.");
  });

  it('reports a READY session without the scan, listings not answered yet, and a missing session', async () => {
    const base = { [pre]: rows({ name: 'E1', status: 'READY', timestamp: '20260101_1' }) };
    expect(await verify({ ...base, [`${folder}/scans`]: rows({ ID: '9' }) })).toMatchObject({ ok: false, found: 0 });
    expect(await verify(base)).toMatchObject({ ok: 'pending', status: 'READY' });
    expect(await verify({ ...base, [`${folder}/scans`]: rows({ ID: '4' }) })).toMatchObject({ ok: 'pending' });
    expect(await verify({})).toMatchObject({ ok: 'pending', status: 'MISSING' });
    expect(await verify({ [pre]: rows({ name: 'OTHER', status: 'READY' }) })).toEqual({
      ok: false,
      status: 'MISSING',
      uri: null,
      found: 0,
      message: 'XNAT has no session P1/S 1/E1 in the archive or the prearchive.',
    });
  });

  it("finds a scan in the prearchive as XNAT's session builder names it: N-MOD{i} when numbers are shared, the UID without one", async () => {
    const ready = { [pre]: rows({ name: 'E1', status: 'READY', timestamp: '20260101_1' }) };
    const shared = {
      ...ready,
      [`${folder}/scans`]: rows({ ID: '4-CT1' }, { ID: '4-CT2' }, { ID: '4-RTSTRUCT1' }),
      [`${folder}/scans/4-RTSTRUCT1/resources/DICOM/files`]: rows({}, {}, {}),
    };
    expect(await verify(shared, { ...sent, modality: 'RTSTRUCT' })).toMatchObject({ ok: true, found: 3 });
    // Two CT series under number 4: held, but which scan is ours shows only in the archive (UIDs).
    const both = await verify(shared, { ...sent, modality: 'CT' });
    expect(both).toMatchObject({ ok: true, status: 'READY', found: null });
    expect(both.message).toBe(
      "XNAT's prearchive lists scans 4-CT1, 4-CT2 for series sharing number 4 and no UIDs, so which one holds this series shows only in the archive.",
    );
    expect(await verify(shared, { ...sent, modality: 'MR' })).toMatchObject({ ok: false, found: 0 });
    // Without a Modality XNAT writes OT.
    const other = { ...ready, [`${folder}/scans`]: rows({ ID: '4-OT1' }, { ID: '4-CT1' }) };
    expect(await verify(other, { ...sent, modality: null })).toMatchObject({ ok: 'pending' });
    const byUid = {
      ...ready,
      [`${folder}/scans`]: rows({ ID: '1_2_3' }),
      [`${folder}/scans/1_2_3/resources/DICOM/files`]: rows({}, {}, {}),
    };
    expect(await verify(byUid, { ...sent, scanId: xnatScanId(null, '1.2.3') })).toMatchObject({ ok: true, found: 3 });
  });
});

describe('xnatScanId', () => {
  it('is the SeriesNumber as stored, else the UID with _ for every non-word character', () => {
    expect([
      xnatScanId('4', '1.2'),
      xnatScanId(' 007 ', '1.2'),
      xnatScanId('+7', '1.2'),
      xnatScanId(null, '2.25.1'),
      xnatScanId('', '1.2-3'),
    ]).toEqual(['4', '007', '_7', '2_25_1', '1_2_3']);
  });
});
