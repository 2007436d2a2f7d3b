//! Where a session lives in XNAT's REST API, from its labels.
import type { SeriesLabels } from '../contracts/series.ts';

const enc = encodeURIComponent;

/** The experiment's REST path (no leading slash), for calls. */
export function experimentPath(l: SeriesLabels): string {
  return `data/projects/${enc(l.project)}/subjects/${enc(l.subject)}/experiments/${enc(l.session)}`;
}

/** The archived session's URI as XNAT's import service answers it, for receipts. */
export function archiveUri(l: SeriesLabels): string {
  return `/data/archive/projects/${l.project}/subjects/${l.subject}/experiments/${l.session}`;
}
