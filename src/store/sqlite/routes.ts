//! The routing ledger: one decision per series batch (series_routes), waiting RT objects and releases.
// The router (pipeline/router.ts) is the only writer. Reasons are stored as the route component
// produced them: rule ids, messages and values of non-identifying attributes only.
import type { RouteState, RouteRecord, UnroutedSeries, ReferencedSeries, RouteStore } from '../routes.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { RouteReason, RtReferences, Target } from '../../contracts/routing.ts';
import type { Db } from './db.ts';

interface Row {
  series_id: number;
  state: RouteState;
  target: Target;
  project: string;
  reasons: string;
  rules_hash: string;
  rt_refs: string | null;
  wait_until: number | null;
  group_series_id: number | null;
  session_study_uid: string | null;
  decided_at: number;
  routed_at: number | null;
  released_at: number | null;
  released_by: string | null;
}

function fromRow(r: Row): RouteRecord {
  return {
    seriesId: r.series_id,
    state: r.state,
    target: r.target,
    project: r.project,
    reasons: JSON.parse(r.reasons) as RouteReason[],
    rulesHash: r.rules_hash,
    rt: r.rt_refs === null ? null : (JSON.parse(r.rt_refs) as RtReferences),
    waitUntil: r.wait_until,
    groupSeriesId: r.group_series_id,
    sessionStudyUid: r.session_study_uid,
    decidedAt: r.decided_at,
    routedAt: r.routed_at,
    releasedAt: r.released_at,
    releasedBy: r.released_by,
  };
}

/** RT objects sort after images when an RT object is grouped with what it references. */
const RT_MODALITIES = new Set(['RTSTRUCT', 'RTPLAN', 'RTDOSE', 'RTIMAGE', 'RTRECORD']);

export function routeStoreSync(db: Db): Sync<RouteStore> {
  const q = {
    unrouted: db.prepare(`SELECT s.id, s.batch, s.study_uid AS studyUid, s.series_uid AS seriesUid FROM series s
      WHERE s.state = 'complete' AND NOT EXISTS (SELECT 1 FROM series_routes r WHERE r.series_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.series_id = s.id)
      ORDER BY s.id LIMIT ?`),
    get: db.prepare('SELECT * FROM series_routes WHERE series_id = ?'),
    // A discarded RT object waits for nothing any more (its originals are gone).
    waiting: db.prepare(`SELECT * FROM series_routes r WHERE state = 'waiting'
      AND NOT EXISTS (SELECT 1 FROM spool_originals o WHERE o.series_id = r.series_id AND o.state = 'discarded') ORDER BY series_id`),
    previous: db.prepare(`SELECT r.* FROM series_routes r JOIN series s ON s.id = r.series_id
      WHERE s.study_uid = ? AND s.series_uid = ? AND s.batch < ? AND r.state = 'routed' ORDER BY s.batch DESC LIMIT 1`),
    bySeriesUid:
      db.prepare(`SELECT s.series_uid AS uid, s.id AS seriesId, s.study_uid AS studyUid, s.modality, r.target, r.project,
        r.session_study_uid AS sessionStudyUid
      FROM json_each(?) j JOIN series s ON s.series_uid = j.value
      JOIN series_routes r ON r.series_id = s.id AND r.state = 'routed'`),
    bySop:
      db.prepare(`SELECT i.sop_instance_uid AS uid, s.id AS seriesId, s.study_uid AS studyUid, s.modality, r.target, r.project,
        r.session_study_uid AS sessionStudyUid
      FROM json_each(?) j JOIN instances i ON i.sop_instance_uid = j.value JOIN series s ON s.id = i.series_id
      JOIN series_routes r ON r.series_id = s.id AND r.state = 'routed'`),
    put: db.prepare(`INSERT INTO series_routes (series_id, state, target, project, reasons, rules_hash, rt_refs, wait_until,
        group_series_id, session_study_uid, decided_at, routed_at, released_at, released_by)
      VALUES (@seriesId, @state, @target, @project, @reasons, @rulesHash, @rt, @waitUntil, @groupSeriesId, @sessionStudyUid,
        @decidedAt, @routedAt, @releasedAt, @releasedBy)
      ON CONFLICT (series_id) DO UPDATE SET state = excluded.state, target = excluded.target, project = excluded.project,
        reasons = excluded.reasons, rules_hash = excluded.rules_hash, rt_refs = excluded.rt_refs, wait_until = excluded.wait_until,
        group_series_id = excluded.group_series_id, session_study_uid = excluded.session_study_uid,
        decided_at = excluded.decided_at, routed_at = excluded.routed_at, released_at = excluded.released_at,
        released_by = excluded.released_by`),
    grouped: db.prepare('SELECT * FROM series_routes WHERE group_series_id = ? ORDER BY series_id'),
    counts: db.prepare(`SELECT count(*) FILTER (WHERE state = 'waiting') AS waiting,
      count(*) FILTER (WHERE state = 'routed' AND target = 'quarantine'
        AND NOT EXISTS (SELECT 1 FROM spool_originals o WHERE o.series_id = series_routes.series_id AND o.state = 'discarded')) AS quarantined,
      count(*) FILTER (WHERE released_at IS NOT NULL) AS released FROM series_routes`),
    latest: db.prepare('SELECT id FROM series WHERE series_uid = ? ORDER BY batch DESC LIMIT 1'),
  };

  return {
    unrouted: (limit) => q.unrouted.all(limit) as UnroutedSeries[],
    get(seriesId) {
      const r = q.get.get(seriesId) as Row | undefined;
      return r ? fromRow(r) : undefined;
    },
    waiting: () => (q.waiting.all() as Row[]).map(fromRow),
    previousBatch(s) {
      const r = q.previous.get(s.studyUid, s.seriesUid, s.batch) as Row | undefined;
      return r ? fromRow(r) : undefined;
    },
    resolve(refs) {
      type Hit = ReferencedSeries & { uid: string };
      const bySeries = q.bySeriesUid.all(JSON.stringify(refs.seriesUids)) as Hit[];
      const bySop = q.bySop.all(JSON.stringify(refs.sopInstanceUids)) as Hit[];
      const foundSeries = new Set(bySeries.map((h) => h.uid));
      const foundSops = new Set(bySop.map((h) => h.uid));
      const routed = new Map<number, ReferencedSeries>();
      for (const h of [...bySeries, ...bySop]) {
        routed.set(h.seriesId, {
          seriesId: h.seriesId,
          studyUid: h.studyUid,
          modality: h.modality,
          target: h.target,
          project: h.project,
          sessionStudyUid: h.sessionStudyUid,
        });
      }
      const isRt = (m: string | null): boolean => m !== null && RT_MODALITIES.has(m);
      return {
        routed: [...routed.values()].sort(
          (a, b) => Number(isRt(a.modality)) - Number(isRt(b.modality)) || a.seriesId - b.seriesId,
        ),
        missingSeries: refs.seriesUids.filter((u) => !foundSeries.has(u)),
        missingInstances: refs.sopInstanceUids.filter((u) => !foundSops.has(u)).length,
      };
    },
    put(r) {
      q.put.run({
        ...r,
        reasons: JSON.stringify(r.reasons),
        rt: r.rt ? JSON.stringify(r.rt) : null,
      });
    },
    grouped: (seriesId) => (q.grouped.all(seriesId) as Row[]).map(fromRow),
    counts: () => q.counts.get() as { waiting: number; quarantined: number; released: number },
    latestBatchOf: (seriesUid) => (q.latest.get(seriesUid) as { id: number } | undefined)?.id,
  };
}

/** The async RouteStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createRouteStore(db: Db): RouteStore {
  return serialised<RouteStore>(db, routeStoreSync(db));
}
