//! Adding a scan to an archived session by REST: PUT the scan, its DICOM resource, then a zip of files
//! (`…/resources/DICOM/files?extract=true`), as XNAT's own scripts and DASHER's export do.
// XNAT creates these from the URL alone: no session rebuild and no session-type check happens, which
// is why this path can add RT objects to a CT session that a DICOM-zip upload could not merge into.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename, join } from 'node:path';
import { readObject } from './import.ts';
import { canWrite, fileRecOf, scansOf, subjectId, type ArchivedRec } from './model.ts';
import { type Call, type Ctx, type Reply, notFound, text } from './reply.ts';
import { spool } from './upload.ts';
import { archiveEntries } from './zip.ts';

const SCAN_PATH =
  /^\/data\/(?:archive\/)?projects\/([^/]+)\/subjects\/([^/]+)\/experiments\/([^/]+)\/scans\/([^/]+)(\/resources\/([^/]+)(\/files)?)?$/;

function session(ctx: Ctx, project: string, subject: string, label: string): ArchivedRec | undefined {
  const s = [...(ctx.model.archive.get(project)?.values() ?? [])].find((x) => x.label === label || x.id === label);
  return s && (s.subject === subject || subjectId(ctx.model, project, s.subject) === subject) ? s : undefined;
}

function scanExists(s: ArchivedRec, id: string): boolean {
  return s.declared.has(id) || [...s.files.values()].some((f) => f.scanId === id);
}

/**
 * PUT …/scans/{id}?xsiType=T&T/UID=U: creates the scan (or updates the one with that id) with the
 * declared type and UID; XNAT files later uploads into the scan with that id, whatever their series.
 */
function putScan(s: ArchivedRec, id: string, query: Record<string, string>): void {
  const current = scansOf(s.files.values(), s.declared).find((x) => x.id === id);
  const xsiType = query.xsiType ?? current?.xsiType ?? 'xnat:otherDicomScanData';
  s.declared.set(id, { uid: query[`${xsiType}/UID`] ?? current?.seriesUid ?? '', xsiType });
}

async function putFiles(ctx: Ctx, call: Call, req: IncomingMessage, s: ArchivedRec, scanId: string): Promise<Reply> {
  if (call.query.extract !== 'true') {
    return text(400, 'This fake accepts only zips with extract=true.');
  }
  const dir = await mkdtemp(join(ctx.tmpDir, 'scan-'));
  try {
    const body = await spool(req, dir, call.meter);
    const incoming = [];
    for await (const entry of archiveEntries(body.path, 'ZIP', dir)) {
      const o = await readObject(entry.stream, entry.name, basename(entry.name));
      if (typeof o === 'string') {
        return text(400, o);
      }
      incoming.push({ ...fileRecOf(o), scanId });
    }
    const overwrite = call.query.overwrite === 'true';
    const clash = incoming.find((f) => [...s.files.values()].some((e) => e.scanId === scanId && e.name === f.name));
    if (clash && !overwrite) {
      return text(409, `File ${clash.name} already exists; use overwrite=true to replace it.`);
    }
    for (const f of incoming) {
      s.files.set(`${f.sopClassUid}|${f.sopInstanceUid}`, f);
    }
    return text(200, '');
  } catch {
    return text(400, 'unable to read data from file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** PUT/POST on a scan, its resource or its files; null for any other path. */
export async function scanUploadRoutes(ctx: Ctx, call: Call, req: IncomingMessage): Promise<Reply | null> {
  const m = SCAN_PATH.exec(call.path);
  if (!m || (call.method !== 'PUT' && call.method !== 'POST')) {
    return null;
  }
  const [, project = '', subject = '', label = '', scanId = '', resource, resourceLabel, files] = m;
  const s = session(ctx, project, subject, label);
  if (!s || !canWrite(ctx.model, call.who.user, project)) {
    return notFound();
  }
  if (resource === undefined) {
    putScan(s, scanId, call.query);
    return text(200, '');
  }
  if (!scanExists(s, scanId)) {
    return notFound(`Unable to find scan ${scanId}`);
  }
  if (files === undefined) {
    return resourceLabel === 'DICOM' ? text(200, '') : text(400, 'This fake holds DICOM resources only.');
  }
  return putFiles(ctx, call, req, s, scanId);
}
