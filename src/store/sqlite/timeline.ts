//! The timeline of one series batch behind GET /series/:id: its associations, jobs with their attempts, audit events.
// PHI-free like the rest of the read model: ids, UIDs, AE titles, peer IPs, counts, times and codes
// are selected, and audit details pass through safeDetail, the backstop against a writer's slip.
import type { TimelineAttempt, EventDetail, SeriesTimeline } from '../timeline.ts';
import { EVENT_LIMIT } from '../timeline.ts';
import type { Db } from './db.ts';
import type { SourceId } from '../../events.ts';
import type { JobState } from '../jobs.ts';
import { seriesColumns, toSummary, type SeriesRow } from './series-row.ts';

interface AssocRow {
  uid: string;
  source: SourceId;
  calling_ae: string;
  called_ae: string;
  peer_ip: string;
  opened_at: number;
  closed_at: number | null;
  outcome: string | null;
  instances: number;
}
interface JobRow {
  id: number;
  sink: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  run_at: number;
  created_at: number;
  updated_at: number;
  last_code: string | null;
  last_stage: string | null;
  last_error: string | null;
  receipt: string | null;
  detail: string | null;
}
interface AttemptRow {
  job_id: number;
  attempt: number;
  started_at: number;
  finished_at: number | null;
  outcome: string | null;
  code: string | null;
  error: string | null;
}
interface EventRow {
  id: number;
  at: number;
  kind: string;
  instance_id: number | null;
  association_id: number | null;
  detail: string;
}

/** Builds the timeline query; its statements are prepared here, once. */
export function createTimeline(db: Db): (seriesId: number) => SeriesTimeline | null {
  const q = {
    series: db.prepare<[number], SeriesRow>(`SELECT ${seriesColumns('s')} FROM series s WHERE s.id = ?`),
    associations: db.prepare<[number], AssocRow>(
      `SELECT a.uid, a.source, a.calling_ae, a.called_ae, a.peer_ip, a.opened_at, a.closed_at, a.outcome,
         (SELECT COUNT(*) FROM instances i WHERE i.series_id = sa.series_id AND i.association_id = a.id) AS instances
       FROM series_associations sa JOIN associations a ON a.id = sa.association_id
       WHERE sa.series_id = ? ORDER BY a.opened_at, a.id`,
    ),
    jobs: db.prepare<[number], JobRow>(
      `SELECT id, sink, state, attempts, max_attempts, run_at, created_at, updated_at, last_code, last_stage, last_error, receipt, detail
       FROM jobs WHERE series_id = ? ORDER BY id`,
    ),
    attempts: db.prepare<[number], AttemptRow>(
      `SELECT a.job_id, a.attempt, a.started_at, a.finished_at, a.outcome, a.code, a.error
       FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.series_id = ? ORDER BY a.job_id, a.attempt, a.id`,
    ),
    events: db.prepare<[number, number], EventRow>(
      `SELECT id, at, kind, instance_id, association_id, detail FROM events
       WHERE series_id = ? ORDER BY id DESC LIMIT ?`,
    ),
  };
  return (seriesId) => {
    const row = q.series.get(seriesId);
    if (!row) {
      return null;
    }
    const attempts = new Map<number, TimelineAttempt[]>();
    for (const a of q.attempts.all(seriesId)) {
      const list = attempts.get(a.job_id) ?? [];
      list.push({
        attempt: a.attempt,
        startedAt: a.started_at,
        finishedAt: a.finished_at,
        outcome: a.outcome,
        code: a.code,
        error: a.error,
      });
      attempts.set(a.job_id, list);
    }
    const events = q.events.all(seriesId, EVENT_LIMIT + 1);
    return {
      ...toSummary(row),
      associations: q.associations.all(seriesId).map((a) => ({
        uid: a.uid,
        source: a.source,
        callingAe: a.calling_ae,
        calledAe: a.called_ae,
        peerIp: a.peer_ip,
        openedAt: a.opened_at,
        closedAt: a.closed_at,
        outcome: a.outcome,
        instances: a.instances,
      })),
      jobs: q.jobs.all(seriesId).map((j) => ({
        id: j.id,
        sink: j.sink,
        state: j.state,
        attemptCount: j.attempts,
        maxAttempts: j.max_attempts,
        runAt: j.run_at,
        createdAt: j.created_at,
        updatedAt: j.updated_at,
        lastCode: j.last_code,
        lastStage: j.last_stage,
        lastError: j.last_error,
        receipt: j.receipt,
        attempts: attempts.get(j.id) ?? [],
        detail: parseDetail(j.detail),
      })),
      events: events
        .slice(0, EVENT_LIMIT)
        .reverse()
        .map((e) => ({
          id: e.id,
          at: e.at,
          kind: e.kind,
          instanceId: e.instance_id,
          associationId: e.association_id,
          detail: safeDetail(e.detail),
        })),
      eventsTruncated: events.length > EVENT_LIMIT,
    };
  };
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
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return out;
  }
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (PHI_KEY.test(k)) {
      continue;
    }
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out[k] = v;
    }
  }
  return out;
}

/** A job's stored detail JSON as an object; anything unreadable is shown as absent. */
function parseDetail(text: string | null): Record<string, unknown> | null {
  if (text === null) {
    return null;
  }
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // Written by this code as JSON; a damaged value is not worth failing /series for.
  }
}
