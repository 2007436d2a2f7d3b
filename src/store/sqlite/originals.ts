//! The fate of each series batch's original spool files (`spool_originals`): held, retained, removed, discarded.
// Retention (spool/retention.ts) and discard (pipeline/discard.ts) decide; this store records it
// and answers "what does the spool hold, and why" for /status. Statements are prepared once.
import type { OriginalsState, OriginalsRecord, HoldingReason, Holding, OriginalsStore } from '../originals.ts';
import { HOLDING_REASONS } from '../originals.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';

interface Row {
  series_id: number;
  state: OriginalsState;
  reason: string;
  by: string | null;
  files: number;
  bytes: number;
  at: number;
  pending_delete: number;
}

const fromRow = (r: Row): OriginalsRecord => ({
  seriesId: r.series_id,
  state: r.state,
  reason: r.reason,
  by: r.by,
  files: r.files,
  bytes: r.bytes,
  at: r.at,
  pendingDelete: r.pending_delete === 1,
});

// Delivered to the hospital project and routed there: release only moves quarantined series, so
// no action re-delivers it from its originals any more.
const DELIVERED_FINAL = `s.state = 'delivered' AND NOT EXISTS (SELECT 1 FROM spool_originals o WHERE o.series_id = s.id)
  AND EXISTS (SELECT 1 FROM series_routes r WHERE r.series_id = s.id AND r.state = 'routed' AND r.target = 'hospital')`;

export function originalsStoreSync(db: Db): Sync<OriginalsStore> {
  const q = {
    get: db.prepare('SELECT * FROM spool_originals WHERE series_id = ?'),
    put: db.prepare(`INSERT INTO spool_originals (series_id, state, reason, by, files, bytes, at, pending_delete)
      VALUES (@seriesId, @state, @reason, @by, @files, @bytes, @at, @pending)
      ON CONFLICT (series_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, by = excluded.by,
        files = excluded.files, bytes = excluded.bytes, at = excluded.at, pending_delete = excluded.pending_delete`),
    deleted: db.prepare('UPDATE spool_originals SET pending_delete = 0 WHERE series_id = ?'),
    pending: db.prepare('SELECT series_id FROM spool_originals WHERE pending_delete = 1 ORDER BY series_id').pluck(),
    scan: db.prepare(`SELECT s.id FROM series s WHERE s.id > ? AND ${DELIVERED_FINAL} ORDER BY s.id LIMIT ?`).pluck(),
    some: db
      .prepare(`SELECT s.id FROM json_each(?) j JOIN series s ON s.id = j.value WHERE ${DELIVERED_FINAL} ORDER BY s.id`)
      .pluck(),
    files: db.prepare('SELECT path, size FROM instances WHERE series_id = ? ORDER BY id'),
    retained: db.prepare(`SELECT * FROM spool_originals WHERE state = 'retained' ORDER BY at, series_id LIMIT ?`),
    retainedTotal:
      db.prepare(`SELECT count(*) AS series, coalesce(sum(files), 0) AS files, coalesce(sum(bytes), 0) AS bytes
      FROM spool_originals WHERE state = 'retained'`),
    // One pass over the series table (as /status's per-state counts already make). Order matters:
    // an RT object waiting for its images is neither awaiting delivery nor quarantined yet.
    holdings: db.prepare(`SELECT CASE
        WHEN o.pending_delete = 1 THEN 'removing'
        WHEN o.state = 'retained' THEN 'retained'
        WHEN s.state = 'receiving' THEN 'receiving'
        WHEN s.state = 'failed' THEN 'failed'
        WHEN r.state = 'waiting' THEN 'waitingForImages'
        WHEN r.target = 'quarantine' THEN 'quarantined'
        WHEN s.state = 'delivered' THEN 'deliveredToRemove'
        ELSE 'awaitingDelivery' END AS reason,
        count(*) AS series, coalesce(sum(s.instance_count), 0) AS files, coalesce(sum(s.byte_count), 0) AS bytes
      FROM series s LEFT JOIN series_routes r ON r.series_id = s.id LEFT JOIN spool_originals o ON o.series_id = s.id
      WHERE o.series_id IS NULL OR o.state = 'retained' OR o.pending_delete = 1
      GROUP BY 1`),
  };
  return {
    get(seriesId) {
      const r = q.get.get(seriesId) as Row | undefined;
      return r ? fromRow(r) : undefined;
    },
    put(r) {
      q.put.run({
        seriesId: r.seriesId,
        state: r.state,
        reason: r.reason,
        by: r.by,
        files: r.files,
        bytes: r.bytes,
        at: r.at,
        pending: r.pendingDelete ? 1 : 0,
      });
    },
    deleted(seriesId) {
      q.deleted.run(seriesId);
    },
    pendingDeletes: () => q.pending.all() as number[],
    deliveredHeld(o) {
      if ('ids' in o) {
        return o.ids.length ? (q.some.all(JSON.stringify(o.ids)) as number[]) : [];
      }
      return q.scan.all(o.afterId, o.limit) as number[];
    },
    files: (seriesId) => q.files.all(seriesId) as { path: string; size: number }[],
    retained: (limit) => (q.retained.all(limit) as Row[]).map(fromRow),
    retainedTotal: () => q.retainedTotal.get() as { series: number; files: number; bytes: number },
    holdings() {
      const out = Object.fromEntries(HOLDING_REASONS.map((k) => [k, { series: 0, files: 0, bytes: 0 }])) as Record<
        HoldingReason,
        Holding
      >;
      for (const r of q.holdings.all() as ({ reason: HoldingReason } & Holding)[]) {
        out[r.reason] = { series: r.series, files: r.files, bytes: r.bytes };
      }
      return out;
    },
  };
}

/** The async OriginalsStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createOriginalsStore(db: Db): OriginalsStore {
  return serialised<OriginalsStore>(db, originalsStoreSync(db));
}
