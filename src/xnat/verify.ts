//! Verified arrival: find the session XNAT built (archive first, then prearchive) and count our scan's files.
// Success from the upload only says XNAT took the bytes; this says where they ended up. A session
// still RECEIVING in the prearchive is not an error (XNAT builds it after its idle time), CONFLICT is.
import type { XnatSessionStatus } from '../contracts/component.ts';
import { resultRows, type XnatClient } from './client.ts';
import { archiveUri, experimentPath } from './paths.ts';
import type { SentSeries, Verification, VerifySession } from './verify-types.ts';

const PREARCHIVE_STATES = new Set<XnatSessionStatus>(['RECEIVING', 'READY', 'CONFLICT', 'ERROR']);

const enc = encodeURIComponent;

/** A JSON field as text: XNAT sends ids and counts as strings or numbers. */
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** Which scan holds the series: its id, several XNAT cannot tell apart without UIDs, or none. */
type ScanMatch = { readonly id: string } | { readonly ambiguous: readonly string[] } | null;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A listing without a UID column (the prearchive's): XNAT names a scan by the series' own id (its
 * SeriesNumber, else its UID), or `{N}-{Modality}{index}` when series share the number in one build.
 */
function byScanId(ids: readonly string[], base: string, modality: string | null | undefined): ScanMatch {
  if (ids.includes(base)) {
    return { id: base };
  }
  // XNAT writes OT for a series without a Modality.
  const prefix = new RegExp(`^${escapeRe(`${base}-${modality || 'OT'}`)}\\d+$`);
  const mine = ids.filter((id) => prefix.test(id));
  const [only, ...more] = mine;
  if (only === undefined) {
    return null;
  }
  return more.length === 0 ? { id: only } : { ambiguous: mine };
}

/** The scan of `sent`'s series in a scans listing (UID column) or a full session document (children). */
function scanId(listing: unknown, doc: unknown, sent: SentSeries): ScanMatch {
  const rows = resultRows(listing);
  const row = rows.find((r) => r.UID === sent.seriesInstanceUid);
  if (row) {
    return { id: text(row.ID) };
  }
  if (sent.scanId != null && rows.length > 0 && rows.every((r) => r.UID === undefined)) {
    const m = byScanId(
      rows.map((r) => text(r.ID)),
      sent.scanId,
      sent.modality,
    );
    if (m) {
      return m;
    }
  }
  const children =
    (doc as { items?: { children?: { items?: { data_fields?: Record<string, unknown> }[] }[] }[] } | null)?.items?.[0]
      ?.children ?? [];
  for (const c of children) {
    const hit = (c.items ?? []).find((i) => i.data_fields?.UID === sent.seriesInstanceUid);
    if (hit?.data_fields?.ID !== undefined) {
      return { id: text(hit.data_fields.ID) };
    }
  }
  return null;
}

/** A lookup XNAT answered 404 although what it lists exists: nothing can be counted yet. */
function notYet(status: XnatSessionStatus, uri: string | null, what: string): Verification {
  return { ok: 'pending', status, uri, found: null, message: `Not verified yet: XNAT answered 404 for ${what}.` };
}

export function createVerifier(client: XnatClient): VerifySession {
  async function archived(sent: SentSeries, signal: AbortSignal): Promise<Verification | null> {
    const { project: p, subject: s, session: e } = sent.labels;
    const path = experimentPath(sent.labels);
    const doc = await client.json(path, signal);
    if (doc === null) {
      return null;
    }
    const uri = archiveUri(sent.labels);
    const listing = await client.json(`${path}/scans`, signal);
    if (listing === null) {
      return notYet('ARCHIVED', uri, `the scan listing of session ${p}/${s}/${e}`);
    }
    const match = scanId(listing, doc, sent);
    if (match === null || !('id' in match)) {
      return {
        ok: false,
        status: 'ARCHIVED',
        uri,
        found: 0,
        message: `Session ${p}/${s}/${e} is archived but has no scan with this series.`,
      };
    }
    const id = match.id;
    const resources = await client.json(`${path}/scans/${enc(id)}/resources`, signal);
    if (resources === null) {
      return notYet('ARCHIVED', uri, `the resources of scan ${id} of session ${p}/${s}/${e}`);
    }
    const found = resultRows(resources)
      .filter((r) => r.label === 'DICOM')
      .reduce((n, r) => n + Number(r.file_count ?? 0), 0);
    return judge(sent, 'ARCHIVED', uri, found, `scan ${id}`);
  }

  async function prearchived(sent: SentSeries, signal: AbortSignal): Promise<Verification | null> {
    const { project: p, subject: s, session: e } = sent.labels;
    const listing = await client.json(`data/prearchive/projects/${enc(p)}`, signal);
    // Without the prearchive listing nothing says the session is missing: it may not be built yet.
    if (listing === null) {
      return notYet('MISSING', null, `the prearchive listing of project ${p}`);
    }
    const rows = resultRows(listing).filter((r) => r.name === e && (r.subject === undefined || r.subject === s));
    if (!rows.length) {
      return null;
    }
    // The upload's receipt names the row; else the one most recently written to.
    const fromReceipt = sent.receipt?.match(/\/prearchive\/projects\/[^/]+\/([^/]+)\/([^/\s]+)/);
    const row =
      rows.find((r) => fromReceipt && r.timestamp === fromReceipt[1] && (r.folderName ?? r.name) === fromReceipt[2]) ??
      [...rows].sort((x, y) => text(y.lastmod).localeCompare(text(x.lastmod)))[0];
    if (!row) {
      return null;
    }
    const folder = text(row.folderName ?? row.name);
    const uri = `/data/prearchive/projects/${p}/${text(row.timestamp)}/${folder}`;
    const raw = text(row.status).toUpperCase();
    const status: XnatSessionStatus = PREARCHIVE_STATES.has(raw as XnatSessionStatus)
      ? (raw as XnatSessionStatus)
      : 'RECEIVING';
    if (status === 'CONFLICT' || status === 'ERROR') {
      return {
        ok: false,
        status,
        uri,
        found: null,
        message: `XNAT's prearchive holds session ${p}/${s}/${e} in ${status}${text(row.message) ? `: ${text(row.message)}` : ''}.`,
      };
    }
    // Until XNAT builds the session (its idle time) there is no scan listing to count.
    if (status !== 'READY') {
      return { ok: true, status, uri, found: null, message: null };
    }
    const base = `data/prearchive/projects/${enc(p)}/${enc(text(row.timestamp))}/${enc(folder)}`;
    const scans = await client.json(`${base}/scans`, signal);
    if (scans === null) {
      return notYet(status, uri, `the scan listing of prearchive session ${p}/${s}/${e}`);
    }
    const match = scanId(scans, null, sent);
    if (match === null) {
      return {
        ok: false,
        status,
        uri,
        found: 0,
        message: `Prearchive session ${p}/${s}/${e} has no scan with this series.`,
      };
    }
    if (!('id' in match)) {
      // Held, but not countable: like a session not built yet, it is counted once archived (UIDs).
      return {
        ok: true,
        status,
        uri,
        found: null,
        message: `XNAT's prearchive lists scans ${match.ambiguous.join(', ')} for series sharing number ${sent.scanId ?? ''} and no UIDs, so which one holds this series shows only in the archive.`,
      };
    }
    const id = match.id;
    const files = await client.json(`${base}/scans/${enc(id)}/resources/DICOM/files`, signal);
    if (files === null) {
      return notYet(status, uri, `the files of scan ${id} of prearchive session ${p}/${s}/${e}`);
    }
    return judge(sent, status, uri, resultRows(files).length, `scan ${id}`);
  }

  return async (sent, signal) =>
    (await archived(sent, signal)) ??
    (await prearchived(sent, signal)) ?? {
      ok: false,
      status: 'MISSING',
      uri: null,
      found: 0,
      message: `XNAT has no session ${sent.labels.project}/${sent.labels.subject}/${sent.labels.session} in the archive or the prearchive.`,
    };
}

/** Fewer files than sent is a mismatch; more is fine (earlier batches of the same series). */
function judge(sent: SentSeries, status: XnatSessionStatus, uri: string, found: number, what: string): Verification {
  if (found >= sent.instances) {
    return { ok: true, status, uri, found, message: null };
  }
  return {
    ok: false,
    status,
    uri,
    found,
    message: `XNAT's ${what} holds ${String(found)} files; ${String(sent.instances)} were sent.`,
  };
}
