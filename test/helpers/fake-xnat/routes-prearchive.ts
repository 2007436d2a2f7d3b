//! The prearchive REST API: list, one session, its built scans and files, delete, build/commit/move, services/archive.
import { archiveRow, autoArchiveOptions, overwriteOptions } from './archive.ts';
import { build, canRead, canWrite, findRow, removeRow, rowUrl, scansOf, type Model, type Row } from './model.ts';
import { type Call, type Ctx, type Reply, notFound, resultSet, text, uriList } from './reply.ts';
import { parseDest } from './routing.ts';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `yyyy-MM-dd HH:mm:ss.SSS`, local time, as the prearchive table shows dates. */
function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getFullYear())}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Unassigned rows are for site admins only; a project's rows for those who may read it. */
function visible(m: Model, user: string, row: Row): boolean {
  return row.project === null ? user === 'admin' : canRead(m, user, row.project);
}

function modifiable(m: Model, user: string, row: Row): boolean {
  return row.project === null ? user === 'admin' : canWrite(m, user, row.project);
}

function autoarchiveName(m: Model, row: Row): string {
  const code = row.project === null ? 0 : (m.projects.get(row.project)?.prearchiveCode ?? 0);
  if (code === 5) {
    return 'AutoArchiveOverwrite';
  }
  return row.autoArchive || code === 4 ? 'AutoArchive' : 'Manual';
}

function rowJson(m: Model, row: Row): Record<string, string> {
  return {
    project: row.project ?? 'Unassigned',
    timestamp: row.timestamp,
    lastmod: dateTime(row.lastmod),
    uploaded: dateTime(row.uploaded),
    scan_date: '',
    scan_time: '',
    subject: row.subject,
    folderName: row.folderName,
    name: row.label,
    tag: row.studyUid,
    status: row.status,
    url: rowUrl(row),
    autoarchive: autoarchiveName(m, row),
    prevent_anon: 'false',
    prevent_auto_commit: 'false',
    SOURCE: '',
    VISIT: '',
    PROTOCOL: '',
    TIMEZONE: '',
  };
}

/** Scans and files of the last build: XNAT reads them from the session XML, absent until built. */
function builtRoutes(row: Row, rest: string): Reply {
  if (row.built === null) {
    return text(404, 'Unable to locate prearc resource.');
  }
  const scans = scansOf(row.built);
  if (rest === '/scans') {
    return resultSet(scans.map((s) => ({ ID: s.id, xsiType: s.xsiType, series_description: s.seriesDescription })));
  }
  const m = /^\/scans\/([^/]+)\/resources(?:\/([^/]+)\/files)?$/.exec(rest);
  const scan = scans.find((s) => s.id === m?.[1]);
  if (!m || !scan) {
    return notFound();
  }
  const files = row.built.filter((f) => f.scanId === scan.id);
  if (m[2] === undefined) {
    return resultSet([{ label: 'DICOM', file_count: files.length, file_size: files.reduce((n, f) => n + f.size, 0) }]);
  }
  if (m[2] !== 'DICOM') {
    return notFound();
  }
  const base = `/data${rowUrl(row)}/scans/${scan.id}/resources/DICOM/files`;
  return resultSet(files.map((f) => ({ Name: f.name, Size: f.size, URI: `${base}/${f.name}` })));
}

/** PrearcSessionResource POST: build, commit (archive only when the session auto-archives), move. */
async function postAction(ctx: Ctx, call: Call, row: Row): Promise<Reply> {
  const m = ctx.model;
  if (row.status === 'ARCHIVING') {
    return text(409, 'session document locked');
  }
  switch (call.query.action) {
    case 'build':
      build(row);
      return uriList([`/data${rowUrl(row)}`]);
    case 'commit': {
      build(row);
      if (!autoArchiveOptions(m, row)) {
        return uriList([`/data${rowUrl(row)}`]);
      }
      // QueueBasedImageCommit(overrideExceptions=false, allowSessionMerge=true); failures come back as 500.
      const r = await archiveRow(m, row, {
        allowSessionMerge: true,
        overrideExceptions: false,
        overwriteFiles: call.query.overwrite_files === 'true',
      });
      return r.ok ? text(301, r.uri) : text(500, r.message);
    }
    case 'move': {
      const to = call.query.newProject ?? '';
      if (!canWrite(m, call.who.user, to)) {
        return text(403, 'Unable to modify session data for destination project.');
      }
      row.project = to;
      return uriList([`/data${rowUrl(row)}`], 301);
    }
    case undefined:
    default:
      return text(
        400,
        `User ${call.who.user} requested an unsupported action on prearchive session: ${call.query.action ?? 'uninitialized'}`,
      );
  }
}

async function sessionRoutes(ctx: Ctx, call: Call, row: Row, rest: string): Promise<Reply> {
  if (!visible(ctx.model, call.who.user, row)) {
    return notFound();
  }
  if (rest !== '') {
    return call.method === 'GET' ? builtRoutes(row, rest) : text(405, 'Method Not Allowed');
  }
  if (call.method === 'GET') {
    return resultSet([rowJson(ctx.model, row)]);
  }
  if (!modifiable(ctx.model, call.who.user, row)) {
    return text(403, 'Forbidden');
  }
  if (call.method === 'DELETE') {
    if (row.status === 'ARCHIVING') {
      return text(409, 'session document locked');
    }
    removeRow(ctx.model, row);
    return text(200, '');
  }
  return call.method === 'POST' ? await postAction(ctx, call, row) : text(405, 'Method Not Allowed');
}

/** POST /data/services/archive?src=/prearchive/projects/P/ts/folder&overwrite=none|append|delete[&dest=…]. */
async function servicesArchive(ctx: Ctx, call: Call): Promise<Reply> {
  const src = /^(?:\/data)?\/prearchive\/projects\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(call.query.src ?? '');
  const dest = parseDest(call.query.dest);
  if (!src?.[1] || !src[2] || !src[3] || dest === null) {
    return text(400, 'src uri is invalid.');
  }
  const row = findRow(ctx.model, src[1], src[2], src[3]);
  if (!row || !visible(ctx.model, call.who.user, row)) {
    return notFound();
  }
  const project = dest?.project ?? row.project;
  if (project === null || !canWrite(ctx.model, call.who.user, project)) {
    return text(403, 'Forbidden');
  }
  const o = {
    ...overwriteOptions(call.query.overwrite, call.query.overwrite_files),
    project: dest?.project,
    subject: dest?.subject,
    label: dest?.label,
  };
  const r = await archiveRow(ctx.model, row, o);
  return r.ok ? uriList([r.uri]) : text(409, r.message);
}

/** Routes under /data/prearchive and /data/services/archive; null when the path is not ours. */
export async function prearchiveRoutes(ctx: Ctx, call: Call): Promise<Reply | null> {
  if (call.path === '/data/services/archive') {
    return call.method === 'POST' ? await servicesArchive(ctx, call) : text(405, 'Method Not Allowed');
  }
  const m = /^\/data\/prearchive\/projects(?:\/([^/]+)(?:\/([^/]+)\/([^/]+)(.*))?)?$/.exec(call.path);
  if (!m) {
    return null;
  }
  const [, project, ts, folder, rest = ''] = m;
  if (project !== undefined && ts !== undefined && folder !== undefined) {
    const row = findRow(ctx.model, project, ts, folder);
    return row ? await sessionRoutes(ctx, call, row, rest) : notFound();
  }
  if (call.method !== 'GET') {
    return text(405, 'Method Not Allowed');
  }
  const wanted = project === undefined ? undefined : project === 'Unassigned' ? null : project;
  const rows = ctx.model.rows.filter(
    (r) => (wanted === undefined || r.project === wanted) && visible(ctx.model, call.who.user, r),
  );
  return resultSet(rows.map((r) => rowJson(ctx.model, r)));
}
