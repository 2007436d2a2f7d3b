//! Removes the prearchive rows XNAT left in CONFLICT after refusing to archive one of our uploads.
// XNAT keeps a refused DICOM-zip upload in its prearchive (status CONFLICT) and files every later
// upload of the same study and label into that row (PrearcDatabase: project + StudyInstanceUID +
// name), so the next series is archived together with the refused copy. Once the refused series is
// in the archive by other means (added as a scan) that copy is stale: archived with it, the next
// series fails on "matching files" or on the session type, although nothing is wrong with it.
// Only CONFLICT rows of this very session are removed: a row another upload has joined since is
// RECEIVING again, and what a row holds was sent by the gateway, which keeps every series until
// XNAT verifiably holds it.
import type { SeriesLabels } from '../../contracts/series.ts';
import type { Logger } from '../../log.ts';
import { resultRows, XnatAuthError, type XnatClient } from '../../xnat/client.ts';
import { HttpNetworkError } from '../../xnat/http.ts';

const enc = encodeURIComponent;
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/**
 * Deletes the CONFLICT rows of session `labels` for `studyUid`; resolves with how many went. A
 * failed lookup or delete is logged and counted out, never thrown: the delivery stands on its own.
 */
export async function discardRefusedRows(
  client: XnatClient,
  labels: SeriesLabels,
  studyUid: string,
  signal: AbortSignal,
  log: Logger,
): Promise<number> {
  const { project: p, subject: s, session: e } = labels;
  try {
    const listing = await client.json(`data/prearchive/projects/${enc(p)}`, signal);
    const refused = resultRows(listing).filter(
      (r) =>
        r.name === e &&
        (r.subject === undefined || r.subject === s) &&
        (r.tag === undefined || r.tag === studyUid) &&
        text(r.status).toUpperCase() === 'CONFLICT',
    );
    let removed = 0;
    for (const r of refused) {
      const folder = text(r.folderName ?? r.name);
      const res = await client.call(
        `data/prearchive/projects/${enc(p)}/${enc(text(r.timestamp))}/${enc(folder)}`,
        signal,
        { method: 'DELETE' },
      );
      if (res.status < 300) {
        removed++;
      } else {
        log.warn(
          { status: res.status, timestamp: text(r.timestamp) },
          "XNAT would not delete a refused upload's prearchive row.",
        );
      }
    }
    if (removed > 0) {
      log.debug({ removed }, "Refused uploads' prearchive rows removed.");
    }
    return removed;
  } catch (err) {
    if (!(err instanceof HttpNetworkError || err instanceof XnatAuthError)) {
      throw err;
    }
    log.warn({ err }, "Could not remove a refused upload's prearchive row; XNAT keeps it in CONFLICT.");
    return 0;
  }
}
