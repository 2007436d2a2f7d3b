//! POST /data/services/import: one file per request, DICOM-zip and gradual-DICOM handlers (reference/xnat.md §2b).
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { archiveInBackground, archiveRow, autoArchiveOptions, overwriteOptions } from './archive.ts';
import { digest, readHeader, type DicomObject } from './dicom.ts';
import { addFile, build, canWrite, fileRecOf, rowUrl, type Model, type Row } from './model.ts';
import { type Call, type Ctx, type Reply, text, uriList } from './reply.ts';
import { explicitTarget, parseDest, resolveTarget, type Explicit } from './routing.ts';
import { extract, inBodyName, parseMultipart, spool, type Upload } from './upload.ts';
import { archiveEntries, formatOf } from './zip.ts';

const isTrue = (v: string | undefined): boolean => v?.toLowerCase() === 'true';

/** Media types RequestUtil.isFileInBody treats as a file even without `inbody=true`. */
const FILE_TYPES = /^(application\/(zip|x-zip-compressed|dicom|octet-stream|x-tar|x-gzip|gzip))\b/i;

/** Reads one object as GradualDicomImporter does; a string is the 400 message. */
export async function readObject(stream: Readable, name: string, storedName?: string): Promise<DicomObject | string> {
  const { md5, size, head } = await digest(stream);
  const header = readHeader(head);
  if (!header) {
    return `unable to read DICOM object ${name}`;
  }
  if (header.sopClassUid === null) {
    return `object ${name} contains no SOP Class UID`;
  }
  if (header.sopInstanceUid === null) {
    return `object ${name} contains no SOP Instance UID`;
  }
  return { header, md5, size, name: storedName ?? `${header.sopInstanceUid}.dcm` };
}

/** Adds a parsed object to the prearchive as `user` would: explicit target first, then header rules. */
export function store(m: Model, user: string, o: DicomObject, explicit: Explicit, now: number): Row {
  const target = resolveTarget(o.header, explicit, (p) => canWrite(m, user, p));
  return addFile(m, target, o.header.studyUid ?? '', fileRecOf(o), now);
}

const prearcUri = (row: Row): string => `/data${rowUrl(row)}`;

async function gradual(ctx: Ctx, call: Call, params: Record<string, string>, upload: Upload): Promise<Reply> {
  const stream =
    upload.end > upload.start
      ? createReadStream(upload.path, { start: upload.start, end: upload.end - 1 })
      : Readable.from([]);
  const o = await readObject(stream, upload.filename);
  if (typeof o === 'string') {
    return text(400, o);
  }
  const row = store(ctx.model, call.who.user, o, explicitTarget(params, false, undefined), ctx.now());
  return uriList([prearcUri(row)]);
}

/** Builds the rows of a committed DICOM-zip upload and archives them when the upload asked for it. */
async function commit(
  ctx: Ctx,
  rows: readonly Row[],
  explicit: Explicit,
  params: Record<string, string>,
): Promise<Reply> {
  const uris: string[] = [];
  const failures: string[] = [];
  const o = overwriteOptions(params.overwrite, params.overwrite_files);
  for (const row of rows) {
    build(row);
    if (explicit.autoArchive) {
      // DicomZipImporter.archiveSession: append is true whenever the session is set to auto-archive.
      const r = await archiveRow(ctx.model, row, { ...o, allowSessionMerge: true });
      if (r.ok) {
        uris.push(r.uri);
      } else {
        failures.push(r.message);
      }
      continue;
    }
    const auto = autoArchiveOptions(ctx.model, row);
    uris.push(prearcUri(row));
    if (auto) {
      // The project's own auto-archive runs after the response, as XNAT's does.
      archiveInBackground(ctx.model, row, auto);
    }
  }
  if (failures.length > 0) {
    return text(
      400,
      `Failed to archive ${String(failures.length)} of ${String(rows.length)} session(s): ${failures.join('; ')}`,
    );
  }
  return uriList(uris);
}

async function dicomZip(
  ctx: Ctx,
  call: Call,
  params: Record<string, string>,
  upload: Upload,
  dir: string,
): Promise<Reply> {
  const dest = parseDest(params.dest);
  if (dest === null) {
    return text(400, 'Parameter dest format error');
  }
  const format = formatOf(upload.filename);
  if (format === 'UNKNOWN') {
    return text(400, 'Unsupported format UNKNOWN');
  }
  const explicit = explicitTarget(params, true, dest);
  // An explicit action=commit turns Ignore-Unparsable on unless the request says otherwise.
  const ignore =
    params['Ignore-Unparsable'] !== undefined ? isTrue(params['Ignore-Unparsable']) : params.action === 'commit';
  const rows = new Set<Row>();
  let lastError: string | null = null;
  try {
    for await (const entry of archiveEntries(await extract(upload, dir), format, dir)) {
      const o = await readObject(entry.stream, entry.name, basename(entry.name));
      if (typeof o === 'string') {
        if (!ignore) {
          // The entries before this one stay in the prearchive: XNAT documents the partial session.
          return text(400, o);
        }
        lastError = o;
        continue;
      }
      rows.add(store(ctx.model, call.who.user, o, explicit, ctx.now()));
    }
  } catch {
    // An unreadable archive (truncated, not a zip at all) is the client's problem.
    return text(400, 'unable to read data from file');
  }
  if (rows.size === 0 && lastError !== null) {
    return text(400, lastError);
  }
  if (params.action === 'commit' || dest !== undefined) {
    return await commit(ctx, [...rows], explicit, params);
  }
  return uriList([...rows].map(prearcUri));
}

/** The one uploaded file and the parameters (query plus form fields), or the refusal. */
async function uploadOf(
  call: Call,
  path: string,
  bytes: number,
): Promise<{ upload: Upload; params: Record<string, string> } | Reply> {
  const ct = call.contentType ?? '';
  const multipart = /^multipart\/form-data/i.test(ct);
  const inbody = isTrue(call.query.inbody);
  if (inbody && multipart) {
    return text(
      406,
      'In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).',
    );
  }
  let files: Upload[] = [];
  let params = { ...call.query };
  if (multipart) {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
    const parsed = await parseMultipart(path, boundary?.[1] ?? boundary?.[2] ?? '');
    files = parsed.files;
    params = { ...params, ...parsed.fields };
  } else if (inbody || FILE_TYPES.test(ct)) {
    if (bytes === 0) {
      return text(400, 'In-body File posts must include the file directly as the body of the message.');
    }
    files = [{ path, start: 0, end: bytes, filename: inBodyName(ct) }];
  }
  if (files.length === 0) {
    return text(400, 'Unable to identify upload format.');
  }
  const [upload, ...more] = files;
  if (!upload || more.length > 0) {
    return text(400, 'Importer is limited to one uploaded resource at a time.');
  }
  return { upload, params };
}

/** The import service. The body is spooled to disk first, so its size never matters. */
export async function importService(ctx: Ctx, call: Call, req: IncomingMessage): Promise<Reply> {
  if (call.method !== 'POST') {
    return { ...text(405, 'Method Not Allowed'), headers: { Allow: 'POST' } };
  }
  const dir = await mkdtemp(join(ctx.tmpDir, 'req-'));
  try {
    const body = await spool(req, dir, call.meter);
    const got = await uploadOf(call, body.path, body.bytes);
    if ('status' in got) {
      return got;
    }
    let handler = got.params['import-handler'];
    if (handler === undefined && /^application\/dicom\b/i.test(call.contentType ?? '')) {
      handler = 'gradual-DICOM';
    }
    // Current XNAT documents DICOM-zip as the default handler.
    switch (handler ?? 'DICOM-zip') {
      case 'DICOM-zip':
        return await dicomZip(ctx, call, got.params, got.upload, dir);
      case 'gradual-DICOM':
        return await gradual(ctx, call, got.params, got.upload);
      default:
        return text(404, `No import handler found for ${handler ?? ''}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
