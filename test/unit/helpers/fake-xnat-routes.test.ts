//! The fake XNAT's read routes answered directly (no sockets): permissions, built scans, experiment URIs.
import { describe, expect, it } from 'vitest';
import { archiveRow, overwriteOptions } from '../../helpers/fake-xnat/archive.ts';
import { createAuth } from '../../helpers/fake-xnat/auth.ts';
import { addFile, build, createModel, rowUrl, type FileRec } from '../../helpers/fake-xnat/model.ts';
import type { Call, Ctx, Reply } from '../../helpers/fake-xnat/reply.ts';
import { archiveRoutes } from '../../helpers/fake-xnat/routes-archive.ts';
import { prearchiveRoutes } from '../../helpers/fake-xnat/routes-prearchive.ts';

const file: FileRec = {
  name: 'a.dcm',
  sopClassUid: '1.2',
  sopInstanceUid: '1.3',
  md5: 'abc',
  size: 10,
  seriesUid: '1.5',
  scanId: '4',
  seriesDescription: 'T1',
  modality: 'MR',
};

function setup(): Ctx {
  const model = createModel([{ id: 'P' }, { id: 'LOCKED', writers: ['admin'] }], 1000);
  return { model, auth: createAuth({ admin: 'admin', bob: 'b' }, 1000, () => 0), tmpDir: '/nonexistent', now: () => 0 };
}

function call(path: string, user = 'admin', method = 'GET', query: Record<string, string> = {}): Call {
  return { method, path, query, who: { user, auth: 'basic' }, contentType: null, meter: { bytes: 0 } };
}

const rows = (r: Reply | null): unknown[] =>
  (JSON.parse(r?.body ?? '{}') as { ResultSet: { Result: unknown[] } }).ResultSet.Result;

describe('prearchive routes', () => {
  it('answers 404 for scans until the session is built, then lists scans, resources and files', async () => {
    const ctx = setup();
    const row = addFile(ctx.model, { project: 'P', subject: 'S', label: 'E', autoArchive: false }, 'S1', file, 0);
    const base = `/data${rowUrl(row)}`;
    expect(await prearchiveRoutes(ctx, call(`${base}/scans`))).toMatchObject({
      status: 404,
      body: 'Unable to locate prearc resource.',
    });
    build(row);
    expect(rows(await prearchiveRoutes(ctx, call(`${base}/scans`)))).toEqual([
      { ID: '4', xsiType: 'xnat:mrScanData', series_description: 'T1' },
    ]);
    expect(rows(await prearchiveRoutes(ctx, call(`${base}/scans/4/resources`)))).toEqual([
      { label: 'DICOM', file_count: '1', file_size: '10' },
    ]);
    expect(rows(await prearchiveRoutes(ctx, call(`${base}/scans/4/resources/DICOM/files`)))).toEqual([
      { Name: 'a.dcm', Size: '10', URI: `${base}/scans/4/resources/DICOM/files/a.dcm` },
    ]);
    expect(rows(await prearchiveRoutes(ctx, call(base)))).toMatchObject([
      { project: 'P', name: 'E', folderName: 'E', tag: 'S1', status: 'READY', autoarchive: 'Manual' },
    ]);
  });

  it('shows Unassigned rows to the site admin only and refuses to delete a row being archived', async () => {
    const ctx = setup();
    const row = addFile(ctx.model, { project: null, subject: 'S', label: 'E', autoArchive: false }, 'S1', file, 0);
    expect([
      rows(await prearchiveRoutes(ctx, call('/data/prearchive/projects'))).length,
      rows(await prearchiveRoutes(ctx, call('/data/prearchive/projects', 'bob'))).length,
    ]).toEqual([1, 0]);
    row.status = 'ARCHIVING';
    expect((await prearchiveRoutes(ctx, call(`/data${rowUrl(row)}`, 'admin', 'DELETE')))?.status).toBe(409);
  });
});

describe('archive routes', () => {
  it('serves an archived experiment by label under its project and by ID under /data/experiments', async () => {
    const ctx = setup();
    await archiveRow(
      ctx.model,
      addFile(ctx.model, { project: 'P', subject: 'S', label: 'E', autoArchive: false }, 'S1', file, 0),
      overwriteOptions(undefined, undefined),
    );
    const item = JSON.parse(
      archiveRoutes(ctx, call('/data/archive/projects/P/subjects/S/experiments/E'))?.body ?? '',
    ) as { items: { data_fields: Record<string, string> }[] };
    expect(item.items[0]?.data_fields).toMatchObject({
      ID: 'XNAT_E00001',
      label: 'E',
      UID: 'S1',
      subject_ID: 'XNAT_S00001',
      xsiType: 'xnat:mrSessionData',
    });
    expect(rows(archiveRoutes(ctx, call('/data/experiments/XNAT_E00001/scans/4/resources/DICOM/files')))).toMatchObject(
      [{ Name: 'a.dcm', digest: 'abc' }],
    );
    expect(archiveRoutes(ctx, call('/data/projects/P/subjects/OTHER/experiments/E'))?.status).toBe(404);
  });

  it('hides projects a user may not read, lets writers set prearchive_code and only admins create projects', () => {
    const ctx = setup();
    expect([
      archiveRoutes(ctx, call('/data/projects/LOCKED', 'bob'))?.status,
      archiveRoutes(ctx, call('/data/projects/LOCKED'))?.status,
    ]).toEqual([404, 200]);
    expect(archiveRoutes(ctx, call('/data/projects/P/prearchive_code/5', 'bob', 'PUT'))?.body).toBe('5');
    expect(archiveRoutes(ctx, call('/data/projects/P/prearchive_code'))?.body).toBe('5');
    expect([
      archiveRoutes(ctx, call('/data/archive/projects/NEW', 'bob', 'PUT'))?.status,
      archiveRoutes(ctx, call('/data/archive/projects/NEW', 'admin', 'PUT'))?.status,
    ]).toEqual([403, 200]);
    expect(rows(archiveRoutes(ctx, call('/data/projects', 'bob'))).map((p) => (p as { ID: string }).ID)).toEqual([
      'NEW',
      'P',
    ]);
  });
});
