//! The query step of a row: study-level C-FIND with exact matching, then the expected instance counts per series.
// PACS matching is not always exact (case-insensitive or prefix matching, ignored keys, fuzzy
// patient IDs), so every answer is checked against the row again here; only an exact match
// counts (FLIP's lesson). Several distinct studies make the row ambiguous: the candidates are
// returned for a person to choose from, nothing is pulled blindly (FLIP #73). Counts come from
// NumberOfSeriesRelatedInstances, or, for series the PACS does not count (DCMTK's dcmqrscp
// counts none), from an IMAGE-level C-FIND of that series.
import type { FindSession } from '../../dicom/qr/api.ts';
import type { Candidate, ExpectedSeries } from '../../contracts/pull-ledger.ts';
import type { RowKey } from './rows.ts';

export type QueryOutcome =
  | { readonly kind: 'resolved'; readonly studyInstanceUid: string; readonly series: readonly ExpectedSeries[] }
  | { readonly kind: 'not-found'; readonly reason: string }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly Candidate[] }
  /** The study was found but the PACS lists no series in it. */
  | { readonly kind: 'empty'; readonly reason: string };

const STUDY_RETURN_KEYS = {
  StudyInstanceUID: '',
  AccessionNumber: '',
  PatientID: '',
  StudyDate: '',
  StudyDescription: '',
  ModalitiesInStudy: '',
  NumberOfStudyRelatedInstances: '',
};

function count(v: string | undefined): number | null {
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) {
    return null;
  }
  return Number(v);
}

const orNull = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);

/** True when a C-FIND match really is what the row asks for. */
function matches(key: RowKey, chosen: string | null, m: Readonly<Record<string, string>>): boolean {
  if (!m.StudyInstanceUID) {
    return false;
  }
  if (chosen !== null) {
    return m.StudyInstanceUID === chosen;
  }
  if (key.accessionNumber !== null && m.AccessionNumber !== key.accessionNumber) {
    return false;
  }
  if (key.patientId !== null && m.PatientID !== key.patientId) {
    return false;
  }
  if (key.studyDateFrom !== null || key.studyDateTo !== null) {
    const d = m.StudyDate ?? '';
    if (!/^\d{8}$/.test(d)) {
      return false;
    }
    if (key.studyDateFrom !== null && d < key.studyDateFrom) {
      return false;
    }
    if (key.studyDateTo !== null && d > key.studyDateTo) {
      return false;
    }
  }
  return true;
}

function studyQuery(key: RowKey, chosen: string | null): Record<string, string> {
  if (chosen !== null) {
    return { ...STUDY_RETURN_KEYS, StudyInstanceUID: chosen };
  }
  const q: Record<string, string> = { ...STUDY_RETURN_KEYS };
  if (key.accessionNumber !== null) {
    q.AccessionNumber = key.accessionNumber;
  }
  if (key.patientId !== null) {
    q.PatientID = key.patientId;
  }
  if (key.studyDateFrom !== null || key.studyDateTo !== null) {
    q.StudyDate =
      key.studyDateFrom === key.studyDateTo
        ? (key.studyDateFrom ?? '')
        : `${key.studyDateFrom ?? ''}-${key.studyDateTo ?? ''}`;
  }
  return q;
}

/** What the row asked for, in words without values (for reasons stored and shown). */
function describeKey(key: RowKey, chosen: string | null): string {
  if (chosen !== null) {
    return 'the chosen study';
  }
  if (key.accessionNumber !== null) {
    return key.patientId === null ? 'this accession number' : 'this accession number and patient ID';
  }
  return key.studyDateFrom === key.studyDateTo ? 'this patient ID on this date' : 'this patient ID in this date range';
}

/** Counts instances of each series the PACS did not count, by IMAGE-level C-FIND. */
async function countSeries(s: FindSession, studyInstanceUid: string, seriesInstanceUid: string): Promise<number> {
  const r = await s.find('IMAGE', {
    StudyInstanceUID: studyInstanceUid,
    SeriesInstanceUID: seriesInstanceUid,
    SOPInstanceUID: '',
  });
  return new Set(
    r.matches
      .filter((m) => m.SeriesInstanceUID === undefined || m.SeriesInstanceUID === seriesInstanceUid)
      .map((m) => m.SOPInstanceUID)
      .filter(Boolean),
  ).size;
}

/** Runs the query step on one FIND association. C-FIND failures throw QrError. */
export async function queryRow(
  s: FindSession,
  row: { key: RowKey; chosenStudyUid: string | null },
): Promise<QueryOutcome> {
  const found = await s.find('STUDY', studyQuery(row.key, row.chosenStudyUid));
  const byUid = new Map<string, Readonly<Record<string, string>>>();
  for (const m of found.matches) {
    if (matches(row.key, row.chosenStudyUid, m) && !byUid.has(m.StudyInstanceUID ?? '')) {
      byUid.set(m.StudyInstanceUID ?? '', m);
    }
  }
  const what = describeKey(row.key, row.chosenStudyUid);
  if (byUid.size === 0) {
    const inexact = found.matches.length;
    return {
      kind: 'not-found',
      reason:
        inexact > 0
          ? `no study matches ${what} exactly (the PACS answered ${String(inexact)} inexact match${inexact === 1 ? '' : 'es'})`
          : `no study matches ${what}`,
    };
  }
  if (byUid.size > 1) {
    return {
      kind: 'ambiguous',
      candidates: [...byUid.values()].map((m) => ({
        studyInstanceUid: m.StudyInstanceUID ?? '',
        studyDate: orNull(m.StudyDate),
        studyDescription: orNull(m.StudyDescription),
        modalities: orNull(m.ModalitiesInStudy),
        accessionNumber: orNull(m.AccessionNumber),
        patientId: orNull(m.PatientID),
        instances: count(m.NumberOfStudyRelatedInstances),
      })),
    };
  }
  const studyInstanceUid = [...byUid.keys()][0] ?? '';
  const series = await s.find('SERIES', {
    StudyInstanceUID: studyInstanceUid,
    SeriesInstanceUID: '',
    Modality: '',
    SeriesNumber: '',
    NumberOfSeriesRelatedInstances: '',
  });
  const out = new Map<string, ExpectedSeries>();
  for (const m of series.matches) {
    const uid = m.SeriesInstanceUID;
    if (!uid || out.has(uid) || (m.StudyInstanceUID !== undefined && m.StudyInstanceUID !== studyInstanceUid)) {
      continue;
    }
    out.set(uid, {
      seriesInstanceUid: uid,
      modality: orNull(m.Modality),
      seriesNumber: orNull(m.SeriesNumber),
      expected: count(m.NumberOfSeriesRelatedInstances),
    });
  }
  if (out.size === 0) {
    return { kind: 'empty', reason: 'the PACS lists the study but no series in it' };
  }
  const list: ExpectedSeries[] = [];
  for (const x of out.values()) {
    list.push(
      x.expected === null ? { ...x, expected: await countSeries(s, studyInstanceUid, x.seriesInstanceUid) } : x,
    );
  }
  return { kind: 'resolved', studyInstanceUid, series: list };
}
