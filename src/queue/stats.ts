//! The read model behind /status, /series and /metrics: prepared, PHI-free queries over the queue.
// Only UIDs, AE titles, peer IPs, counts, times and bounded codes are selected. The schema holds no
// patient identifiers; listing columns explicitly (never `SELECT *`) keeps it that way here.
import type { Db } from './db.ts';
import type { SeriesState, SourceId } from '../events.ts';
import { createSeriesList, type SeriesListPage, type SeriesListQuery } from './series-list.ts';

export type JobState = 'queued' | 'running' | 'done' | 'dead';
export const SERIES_STATES: readonly SeriesState[] = ['receiving', 'complete', 'delivered', 'failed'];
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'dead'];
export const SOURCES: readonly SourceId[] = ['dimse', 'folder', 'stow'];

/** Series batches, instances and bytes (from `series` counters) in one series state. */
export interface StateCounts { series: number; instances: number; bytes: number }
/** Instances and bytes (from `instances.size`) received through one source. */
export interface SourceTotals { instances: number; bytes: number }

export interface SeriesSummary {
  id: number; studyUid: string; seriesUid: string; batch: number; state: SeriesState; modality: string | null;
  instanceCount: number; byteCount: number; firstInstanceAt: number; lastInstanceAt: number;
  completedAt: number | null; deliveredAt: number | null;
}
/** A page of the series list (queue/series-list.ts): summaries plus project, reasons and senders. */
export type SeriesPage = SeriesListPage;

export interface TimelineAssociation {
  uid: string; source: SourceId; callingAe: string; calledAe: string; peerIp: string;
  openedAt: number; closedAt: number | null; outcome: string | null; /** Instances it sent to this batch. */ instances: number;
}
export interface TimelineAttempt {
  attempt: number; startedAt: number; finishedAt: number | null; outcome: string | null; code: string | null; error: string | null;
}
export interface TimelineJob {
  id: number; sink: string; state: JobState; attemptCount: number; maxAttempts: number; runAt: number;
  createdAt: number; updatedAt: number; lastCode: string | null; lastStage: string | null; lastError: string | null;
  receipt: string | null; attempts: TimelineAttempt[];
  /** The sink's DeliveryDetail (XNAT status, counts, message), parsed; null when none. */
  detail: Record<string, unknown> | null;
}
export type EventDetail = Record<string, string | number | boolean | null>;
export interface TimelineEvent { id: number; at: number; kind: string; instanceId: number | null; associationId: number | null; detail: EventDetail }
export interface SeriesTimeline extends SeriesSummary {
  associations: TimelineAssociation[]; jobs: TimelineJob[]; events: TimelineEvent[];
  /** True when only the newest `EVENT_LIMIT` audit events are returned. */
  eventsTruncated: boolean;
}
export interface SinkSummary {
  sink: string; jobs: Record<JobState, number>; lastSuccessAt: number | null;
  lastFailure: { at: number; code: string | null; error: string | null } | null;
}
/** Epoch-ms anchors of the oldest undelivered work; null when there is none. */
export interface OldestPending {
  /** first_instance_at of the oldest batch still receiving or complete. */
  seriesFirstInstanceAt: number | null; seriesId: number | null;
  /** run_at of the earliest queued job (may be in the future while backing off). */
  jobRunAt: number | null; jobId: number | null;
}

export interface Stats {
  seriesByState(): Record<SeriesState, StateCounts>;
  jobsByState(): Record<JobState, number>;
  sourceTotals(): Record<SourceId, SourceTotals>;
  sinks(): SinkSummary[];
  oldestPending(): OldestPending;
  openAssociations(): number;
  /** Filtered and sorted (default newest first); `before` is an exclusive id cursor; `limit` is clamped to 1..500. */
  listSeries(q: SeriesListQuery): SeriesPage;
  timeline(seriesId: number): SeriesTimeline | null;
}

export const EVENT_LIMIT = 500;
const SERIES_COLS = `id, study_uid, series_uid, batch, state, modality, instance_count, byte_count,
  first_instance_at, last_instance_at, completed_at, delivered_at`;

interface SeriesRow {
  id: number; study_uid: string; series_uid: string; batch: number; state: SeriesState; modality: string | null;
  instance_count: number; byte_count: number; first_instance_at: number; last_instance_at: number;
  completed_at: number | null; delivered_at: number | null;
}
interface AssocRow {
  uid: string; source: SourceId; calling_ae: string; called_ae: string; peer_ip: string;
  opened_at: number; closed_at: number | null; outcome: string | null; instances: number;
}
interface JobRow {
  id: number; sink: string; state: JobState; attempts: number; max_attempts: number; run_at: number; created_at: number;
  updated_at: number; last_code: string | null; last_stage: string | null; last_error: string | null; receipt: string | null;
  detail: string | null;
}
interface AttemptRow {
  job_id: number; attempt: number; started_at: number; finished_at: number | null; outcome: string | null; code: string | null; error: string | null;
}
interface EventRow { id: number; at: number; kind: string; instance_id: number | null; association_id: number | null; detail: string }

/** Builds the read model; every statement is prepared here, once. */
export function createStats(db: Db): Stats {
  const q = {
    seriesByState: db.prepare<[], { state: SeriesState; series: number; instances: number; bytes: number }>(
      `SELECT state, COUNT(*) AS series, COALESCE(SUM(instance_count), 0) AS instances, COALESCE(SUM(byte_count), 0) AS bytes
       FROM series GROUP BY state`),
    jobsByState: db.prepare<[], { state: JobState; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
    sourceTotals: db.prepare<[], { source: SourceId; instances: number; bytes: number }>(
      'SELECT source, COUNT(*) AS instances, COALESCE(SUM(size), 0) AS bytes FROM instances GROUP BY source'),
    sinkStates: db.prepare<[], { sink: string; state: JobState; n: number }>(
      'SELECT sink, state, COUNT(*) AS n FROM jobs GROUP BY sink, state ORDER BY sink'),
    sinkSuccess: db.prepare<[], { sink: string; at: number }>(
      "SELECT sink, MAX(updated_at) AS at FROM jobs WHERE state = 'done' GROUP BY sink"),
    // SQLite's bare-column rule: with MAX(a.id) the other columns come from that newest row.
    sinkFailure: db.prepare<[], { sink: string; id: number; at: number | null; started_at: number; code: string | null; error: string | null }>(
      `SELECT j.sink, MAX(a.id) AS id, a.finished_at AS at, a.started_at, a.code, a.error
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id
       WHERE a.outcome IN ('retry', 'rejected', 'error', 'lease-expired') GROUP BY j.sink`),
    oldestSeries: db.prepare<[], { id: number; at: number }>(
      `SELECT id, first_instance_at AS at FROM series WHERE state IN ('receiving', 'complete')
       ORDER BY first_instance_at, id LIMIT 1`),
    oldestJob: db.prepare<[], { id: number; at: number }>(
      "SELECT id, run_at AS at FROM jobs WHERE state = 'queued' ORDER BY run_at, id LIMIT 1"),
    openAssociations: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM associations WHERE closed_at IS NULL'),
    series: db.prepare<[number], SeriesRow>(`SELECT ${SERIES_COLS} FROM series WHERE id = ?`),
    associations: db.prepare<[number], AssocRow>(
      `SELECT a.uid, a.source, a.calling_ae, a.called_ae, a.peer_ip, a.opened_at, a.closed_at, a.outcome,
         (SELECT COUNT(*) FROM instances i WHERE i.series_id = sa.series_id AND i.association_id = a.id) AS instances
       FROM series_associations sa JOIN associations a ON a.id = sa.association_id
       WHERE sa.series_id = ? ORDER BY a.opened_at, a.id`),
    jobs: db.prepare<[number], JobRow>(
      `SELECT id, sink, state, attempts, max_attempts, run_at, created_at, updated_at, last_code, last_stage, last_error, receipt, detail
       FROM jobs WHERE series_id = ? ORDER BY id`),
    attempts: db.prepare<[number], AttemptRow>(
      `SELECT a.job_id, a.attempt, a.started_at, a.finished_at, a.outcome, a.code, a.error
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.series_id = ? ORDER BY a.job_id, a.attempt, a.id`),
    events: db.prepare<[number, number], EventRow>(
      `SELECT id, at, kind, instance_id, association_id, detail FROM events
       WHERE series_id = ? ORDER BY id DESC LIMIT ?`),
  };

  const list = createSeriesList(db);
  return {
    seriesByState() {
      const out = fill(SERIES_STATES, (): StateCounts => ({ series: 0, instances: 0, bytes: 0 }));
      for (const r of q.seriesByState.all()) {out[r.state] = { series: r.series, instances: r.instances, bytes: r.bytes };}
      return out;
    },
    jobsByState() {
      const out = fill(JOB_STATES, () => 0);
      for (const r of q.jobsByState.all()) {out[r.state] = r.n;}
      return out;
    },
    sourceTotals() {
      const out = fill(SOURCES, (): SourceTotals => ({ instances: 0, bytes: 0 }));
      for (const r of q.sourceTotals.all()) {out[r.source] = { instances: r.instances, bytes: r.bytes };}
      return out;
    },
    sinks() {
      const bySink = new Map<string, SinkSummary>();
      const get = (sink: string): SinkSummary => {
        let s = bySink.get(sink);
        if (!s) {bySink.set(sink, (s = { sink, jobs: fill(JOB_STATES, () => 0), lastSuccessAt: null, lastFailure: null }));}
        return s;
      };
      for (const r of q.sinkStates.all()) {get(r.sink).jobs[r.state] = r.n;}
      for (const r of q.sinkSuccess.all()) {get(r.sink).lastSuccessAt = r.at;}
      for (const r of q.sinkFailure.all()) {get(r.sink).lastFailure = { at: r.at ?? r.started_at, code: r.code, error: r.error };}
      return [...bySink.values()];
    },
    oldestPending() {
      const s = q.oldestSeries.get();
      const j = q.oldestJob.get();
      return { seriesFirstInstanceAt: s?.at ?? null, seriesId: s?.id ?? null, jobRunAt: j?.at ?? null, jobId: j?.id ?? null };
    },
    openAssociations() {
      return q.openAssociations.get()?.n ?? 0;
    },
    listSeries: (query) => list.page(query),
    timeline(seriesId) {
      const row = q.series.get(seriesId);
      if (!row) {return null;}
      const attempts = new Map<number, TimelineAttempt[]>();
      for (const a of q.attempts.all(seriesId)) {
        const list = attempts.get(a.job_id) ?? [];
        list.push({ attempt: a.attempt, startedAt: a.started_at, finishedAt: a.finished_at, outcome: a.outcome, code: a.code, error: a.error });
        attempts.set(a.job_id, list);
      }
      const events = q.events.all(seriesId, EVENT_LIMIT + 1);
      return {
        ...toSummary(row),
        associations: q.associations.all(seriesId).map((a) => ({
          uid: a.uid, source: a.source, callingAe: a.calling_ae, calledAe: a.called_ae, peerIp: a.peer_ip,
          openedAt: a.opened_at, closedAt: a.closed_at, outcome: a.outcome, instances: a.instances,
        })),
        jobs: q.jobs.all(seriesId).map((j) => ({
          id: j.id, sink: j.sink, state: j.state, attemptCount: j.attempts, maxAttempts: j.max_attempts, runAt: j.run_at,
          createdAt: j.created_at, updatedAt: j.updated_at, lastCode: j.last_code, lastStage: j.last_stage,
          lastError: j.last_error, receipt: j.receipt, attempts: attempts.get(j.id) ?? [], detail: parseDetail(j.detail),
        })),
        events: events.slice(0, EVENT_LIMIT).reverse().map((e) => ({
          id: e.id, at: e.at, kind: e.kind, instanceId: e.instance_id, associationId: e.association_id, detail: safeDetail(e.detail),
        })),
        eventsTruncated: events.length > EVENT_LIMIT,
      };
    },
  };
}

/** Seconds from `at` to `now` (epoch ms), never negative; null when there is nothing pending. */
export function ageSeconds(at: number | null, now: number): number | null {
  return at === null ? null : Math.max(0, (now - at) / 1000);
}

function toSummary(r: SeriesRow): SeriesSummary {
  return {
    id: r.id, studyUid: r.study_uid, seriesUid: r.series_uid, batch: r.batch, state: r.state, modality: r.modality,
    instanceCount: r.instance_count, byteCount: r.byte_count, firstInstanceAt: r.first_instance_at,
    lastInstanceAt: r.last_instance_at, completedAt: r.completed_at, deliveredAt: r.delivered_at,
  };
}

function fill<K extends string, V>(keys: readonly K[], make: () => V): Record<K, V> {
  const out = {} as Record<K, V>;
  for (const k of keys) {out[k] = make();}
  return out;
}

// Folder drop names and paths can carry patient names, so `origin`/`path` are withheld too.
const PHI_KEY = /patient|birth|name|address|phone|origin|path/i;

/**
 * Flattens an audit `detail` JSON to scalar fields. Writers promise no PHI; this is the backstop:
 * keys that look like patient attributes and nested values (which could hide them) are dropped.
 */
export function safeDetail(text: string): EventDetail {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // A malformed audit row should not break the timeline; its content is withheld instead.
    return { unparsable: true };
  }
  const out: EventDetail = {};
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {return out;}
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (PHI_KEY.test(k)) {continue;}
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {out[k] = v;}
  }
  return out;
}

/** A job's stored detail JSON as an object; anything unreadable is shown as absent. */
function parseDetail(text: string | null): Record<string, unknown> | null {
  if (text === null) {return null;}
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // Written by this code as JSON; a damaged value is not worth failing /series for.
  }
}
