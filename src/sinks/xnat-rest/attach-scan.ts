//! Adds a series as a new scan of an archived session (PUT scan, DICOM resource, zip of files).
// XNAT rebuilds a DICOM-zip upload into a session of its own and then merges it; the merge refuses
// a session of another type ("Invalid modification of session modality"): an RTSTRUCT-only upload
// becomes an RT session and cannot join its planning CT's session, a CT after a PET likewise. The
// scan-resource path adds files to the existing session without that rebuild, as XNAT's own
// scripts (and DASHER's export) do. Used only when the archived session is the same study. The scan
// gets the id XNAT's own merge would give it (ScanIdValidator): its SeriesNumber (else its UID), or
// `{N}-OT{n}` when another series holds that number (RT objects often share their CT's number).
import type { SeriesSnapshot } from '../../contracts/component.ts';
import { resultRows, type XnatClient } from '../../xnat/client.ts';
import { archiveUri, experimentPath } from '../../xnat/paths.ts';
import { seriesNumberOf, xnatScanId } from '../../xnat/series-number.ts';
import { zipSeries } from './zip.ts';

export type AttachResult =
  | { readonly ok: true; readonly uri: string }
  | { readonly ok: false; readonly message: string }
  | { readonly ok: 'retry'; readonly message: string };

const enc = encodeURIComponent;

/** The StudyInstanceUID of an experiment document (`items[0].data_fields.UID`), or null. */
function studyUidOf(doc: unknown): string | null {
  const uid = (doc as { items?: { data_fields?: { UID?: unknown } }[] } | null)?.items?.[0]?.data_fields?.UID;
  return typeof uid === 'string' ? uid : null;
}

/** `xnat:otherDicomScanData` holds any DICOM series; XNAT's own RT handling uses it too. */
const SCAN_TYPE = 'xnat:otherDicomScanData';
/** ScanIdValidator's code for SCAN_TYPE: the two letters after `xnat:`. */
const SCAN_CODE = 'OT';

/** `base`, or `{base}-OT{n}` with the first n no scan of the session has. */
function freeScanId(scans: readonly Record<string, unknown>[], base: string): string {
  const used = new Set(scans.map((r) => String(r.ID)));
  let id = base;
  for (let n = 1; used.has(id); n++) {
    id = `${base}-${SCAN_CODE}${String(n)}`;
  }
  return id;
}

export async function attachScan(
  client: XnatClient,
  series: SeriesSnapshot,
  o: { uploadTimeoutMs: number; signal: AbortSignal },
): Promise<AttachResult> {
  const l = series.labels;
  const first = series.instances[0];
  if (!l || !first) {
    return { ok: false, message: 'Nothing to attach.' };
  }
  const exp = experimentPath(l);
  const uri = archiveUri(l);
  const doc = await client.json(exp, o.signal);
  if (doc === null) {
    return { ok: false, message: `Session ${l.project}/${l.subject}/${l.session} is not in XNAT's archive.` };
  }
  // Another study under the same label is a real conflict, whatever XNAT named first.
  if (studyUidOf(doc) !== series.studyInstanceUid) {
    return {
      ok: false,
      message: `Session ${l.project}/${l.subject}/${l.session} in XNAT holds another StudyInstanceUID.`,
    };
  }
  const scans = resultRows(await client.json(`${exp}/scans`, o.signal));
  // A re-sent series (a crashed job) goes back into the scan XNAT already holds for its UID.
  const existing = scans.find((r) => r.UID === series.seriesInstanceUid);
  const scanId = existing
    ? String(existing.ID)
    : freeScanId(scans, xnatScanId(await seriesNumberOf(first.path), series.seriesInstanceUid));
  /** One PUT; null when it worked, else what to report (5xx: XNAT's trouble, worth a retry). */
  const put = async (
    what: string,
    path: string,
    query: Record<string, string>,
    zip = false,
  ): Promise<AttachResult | null> => {
    const res = await client.call(path, o.signal, {
      method: 'PUT',
      query,
      ...(zip
        ? { body: () => zipSeries(series), contentType: 'application/zip', idleTimeoutMs: o.uploadTimeoutMs }
        : {}),
    });
    if (res.status < 300) {
      return null;
    }
    const message = `${what} gave HTTP ${String(res.status)}.`;
    return res.status >= 500 ? { ok: 'retry', message } : { ok: false, message };
  };
  const scan = `${exp}/scans/${enc(scanId)}`;
  if (!existing) {
    const failed =
      (await put(`Creating scan ${scanId}`, scan, {
        xsiType: SCAN_TYPE,
        [`${SCAN_TYPE}/UID`]: series.seriesInstanceUid,
        [`${SCAN_TYPE}/type`]: series.modality ?? 'DICOM',
      })) ?? (await put('Creating its DICOM resource', `${scan}/resources/DICOM`, { format: 'DICOM', content: 'RAW' }));
    if (failed) {
      return failed;
    }
  }
  // overwrite=true: a re-send after a crash replaces the same files instead of failing on them.
  return (
    (await put(
      `Uploading the files of scan ${scanId}`,
      `${scan}/resources/DICOM/files`,
      { extract: 'true', inbody: 'true', overwrite: 'true' },
      true,
    )) ?? { ok: true, uri }
  );
}
