//! What the gateway's own tables say about a pulled study: instances received, series delivered and verified, and where in XNAT.
// A pull row is attributed by its StudyInstanceUID (and each series by its SeriesInstanceUID): the
// instances of a C-MOVE arrive through the DICOM receiver like any push, so the spool's `series`
// and `instances` rows (original UIDs, before de-identification) are the record of arrival, and the
// delivery jobs of those series say what reached XNAT and what the sinks' verification found.
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { PullProgress, SeriesDelivery } from '../../contracts/pull-ledger.ts';
import type { Db } from './db.ts';

export type { DeliveredAs, PullProgress, SeriesDelivery } from '../../contracts/pull-ledger.ts';

interface JobDetail {
  sent?: number;
  found?: number | null;
  uri?: string;
}

/** `xnatSinks`: ids of the sinks that deliver to XNAT (their jobs carry the verification). */
// Only durable instances count as received: a row committed while its file's fsync still runs
// (durable = 0, ADR 0013) may be removed by start-up reconciliation after a crash, and a pull row
// counted complete on it would never be fetched again nor verified.
export function pullProgressSync(db: Db, xnatSinks: readonly string[]): Sync<PullProgress> {
  const q = {
    received: db.prepare<
      [string],
      { series: string; n: number }
    >(`SELECT s.series_uid AS series, COUNT(DISTINCT i.sop_instance_uid) AS n
      FROM series s JOIN instances i ON i.series_id = s.id WHERE s.study_uid = ? AND i.durable = 1 GROUP BY s.series_uid`),
    studyOf: db.prepare<[number], { study: string }>('SELECT study_uid AS study FROM series WHERE id = ?'),
    batches: db.prepare<
      [string, string],
      { id: number; state: string; n: number; project: string | null }
    >(`SELECT s.id, s.state, s.instance_count AS n, r.project
      FROM series s LEFT JOIN series_routes r ON r.series_id = s.id WHERE s.study_uid = ? AND s.series_uid = ? ORDER BY s.batch`),
    jobs: db.prepare<
      [number],
      { sink: string; state: string; detail: string | null; code: string | null; error: string | null }
    >(
      "SELECT sink, state, detail, last_code AS code, last_error AS error FROM jobs WHERE series_id = ? AND kind = 'deliver'",
    ),
    session: db.prepare<[string, string], { subject: string; label: string }>(
      'SELECT subject_label AS subject, label FROM pseudonym_sessions WHERE project = ? AND study_uid = ?',
    ),
    uid: db.prepare<[string, string], { replacement: string }>(
      'SELECT replacement FROM uid_map WHERE project = ? AND original = ?',
    ),
    // The labels of the newest row of a pull still working on or holding the study in that project.
    listLabels: db.prepare<[string, string], { subject: string | null; session: string | null }>(`SELECT
      r.subject_label AS subject, r.session_label AS session FROM pull_rows r JOIN pulls p ON p.id = r.pull_id
      WHERE r.study_uid = ? AND COALESCE(r.project, p.project) = ?
        AND r.state IN ('queued', 'retrieving', 'partial', 'complete', 'delivered', 'verified')
        AND (r.subject_label IS NOT NULL OR r.session_label IS NOT NULL)
      ORDER BY r.id DESC LIMIT 1`),
    // The newest row of a pull still working on or holding the study; cancelled, failed and duplicate rows do not count.
    project: db.prepare<[number], { project: string }>(`SELECT COALESCE(r.project, p.project) AS project FROM series s
      JOIN pull_rows r ON r.study_uid = s.study_uid JOIN pulls p ON p.id = r.pull_id
      WHERE s.id = ? AND r.state IN ('queued', 'retrieving', 'partial', 'complete', 'delivered', 'verified') AND COALESCE(r.project, p.project) IS NOT NULL
      ORDER BY r.id DESC LIMIT 1`),
  };
  const xnat = new Set(xnatSinks);

  function delivery(study: string, series: string): SeriesDelivery {
    let delivered = 0;
    let verified: number | null = 0;
    let project: string | null = null;
    let uri: string | null = null;
    let failed: SeriesDelivery['failed'] = null;
    for (const b of q.batches.all(study, series)) {
      project = b.project ?? project;
      if (b.state === 'failed') {
        const dead = q.jobs.all(b.id).find((j) => j.state === 'dead');
        failed ??= {
          code: dead?.code ?? 'ERR_JOB_UNEXPECTED',
          reason: dead?.error ?? 'a delivery job of the series failed',
        };
      }
      if (b.state !== 'delivered') {
        verified = null;
        continue;
      }
      delivered += b.n;
      const jobs = q.jobs.all(b.id).filter((j) => xnat.has(j.sink));
      // Every XNAT sink must have counted the batch; the smallest count is what XNAT surely holds.
      let batch: number | null = jobs.length === 0 ? null : b.n;
      for (const j of jobs) {
        const d = j.detail ? (JSON.parse(j.detail) as JobDetail) : {};
        uri = d.uri ?? uri;
        // A session still RECEIVING in XNAT's prearchive was not countable when the job ended.
        batch = typeof d.found === 'number' && batch !== null ? Math.min(batch, d.found) : null;
      }
      verified = verified === null || batch === null ? null : verified + batch;
    }
    return { delivered, verified: delivered === 0 ? null : verified, project, uri, failed };
  }

  return {
    received(study) {
      return new Map(q.received.all(study).map((r) => [r.series, r.n]));
    },
    studyOf(seriesId) {
      return q.studyOf.get(seriesId)?.study ?? null;
    },
    delivery,
    listLabels(project, study) {
      return q.listLabels.get(study, project) ?? null;
    },
    projectFor(seriesId) {
      return q.project.get(seriesId)?.project ?? null;
    },
    deliveredAs(study, series) {
      const batches = q.batches.all(study, series);
      const project = batches.find((b) => b.project !== null)?.project;
      if (!project) {
        return null;
      }
      // Each XNAT the series reached: every one of them is asked again, not the first configured.
      const sinks = new Set(
        batches.flatMap((b) =>
          q.jobs
            .all(b.id)
            .filter((j) => j.state === 'done' && xnat.has(j.sink))
            .map((j) => j.sink),
        ),
      );
      const s = q.session.get(project, study);
      if (!s) {
        return null;
      }
      // Without de-identification (profile none) nothing is mapped: XNAT holds the original UIDs.
      return {
        sinks: [...sinks],
        project,
        subject: s.subject,
        session: s.label,
        studyInstanceUid: q.uid.get(project, study)?.replacement ?? study,
        seriesInstanceUid: q.uid.get(project, series)?.replacement ?? series,
      };
    },
  };
}

/** The async PullProgress over SQLite: each call waits its turn on the connection (turns.ts). */
export function createPullProgress(db: Db, xnatSinks: readonly string[]): PullProgress {
  return serialised<PullProgress>(db, pullProgressSync(db, xnatSinks));
}
