//! Instance rows whose spool file is not durable yet (ADR 0013): marked durable when the fsync completes,
//! listed for start-up reconciliation, or dropped with their batch and association counts taken back.
import { instanceAudit } from './audit.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';
import type { DroppedInstance } from '../instances.ts';

export interface NotDurableRows {
  /** Marks rows durable, inside the caller's transaction (the group commit of `recordMany`). */
  mark(ids: readonly number[]): Promise<void>;
  /** Marks rows durable in a transaction of their own. */
  markDurable(ids: readonly number[]): Promise<void>;
  list(node: string | null): Promise<{ id: number; path: string; size: number; datasetSha256: string }[]>;
  drop(id: number, at: number): Promise<DroppedInstance | null>;
}

export function notDurableRowsSync(db: Db): Sync<NotDurableRows> {
  const audit = instanceAudit(db);
  const setDurable = db.prepare(`UPDATE instances SET durable = 1 WHERE id = ? AND durable = 0`);
  const listNotDurable = db.prepare(
    // Only this node's: another node's files are on its own spool, and its rows are its to check.
    `SELECT id, path, size, dataset_sha256 AS datasetSha256 FROM instances WHERE durable = 0 AND (association_id IS NULL
      OR association_id IN (SELECT id FROM associations WHERE node IS NULL OR node = ?))`,
  );
  const oneNotDurable = db.prepare(
    `SELECT id, series_id, path, size, association_id FROM instances WHERE id = ? AND durable = 0`,
  );
  const unlinkEvents = db.prepare(`UPDATE events SET instance_id = NULL WHERE instance_id = ?`);
  const unlinkDropFiles = db.prepare(`UPDATE folder_files SET instance_id = NULL WHERE instance_id = ?`);
  const deleteInstance = db.prepare(`DELETE FROM instances WHERE id = ?`);
  const shrinkSeries = db.prepare(
    `UPDATE series SET instance_count = instance_count - 1, byte_count = byte_count - ? WHERE id = ?`,
  );
  const shrinkAssoc = db.prepare(`UPDATE associations SET instances = instances - 1, bytes = bytes - ? WHERE id = ?`);
  const emptyBatch = db
    .prepare(
      `SELECT 1 FROM series WHERE id = ? AND state = 'receiving' AND NOT EXISTS (SELECT 1 FROM instances WHERE series_id = ?)`,
    )
    .pluck();
  const unlinkSeriesEvents = db.prepare(`UPDATE events SET series_id = NULL WHERE series_id = ?`);
  const deleteSeriesAssocs = db.prepare(`DELETE FROM series_associations WHERE series_id = ?`);
  const deleteSeries = db.prepare(`DELETE FROM series WHERE id = ?`);
  const mark = (ids: readonly number[]): void => {
    for (const id of ids) {
      setDurable.run(id);
    }
  };
  const markMany = db.transaction(mark);
  const drop = db.transaction((id: number, at: number): DroppedInstance | null => {
    const row = oneNotDurable.get(id) as
      { id: number; series_id: number; path: string; size: number; association_id: number | null } | undefined;
    if (!row) {
      return null;
    }
    unlinkEvents.run(id);
    unlinkDropFiles.run(id);
    deleteInstance.run(id);
    shrinkSeries.run(row.size, row.series_id);
    if (row.association_id !== null) {
      shrinkAssoc.run(row.size, row.association_id);
    }
    if (emptyBatch.get(row.series_id, row.series_id)) {
      unlinkSeriesEvents.run(row.series_id);
      deleteSeriesAssocs.run(row.series_id);
      deleteSeries.run(row.series_id);
      audit.run(
        at,
        'instance.not-durable',
        null,
        null,
        row.association_id,
        JSON.stringify({ path: row.path, batchRemoved: true }),
      );
    } else {
      audit.run(
        at,
        'instance.not-durable',
        row.series_id,
        null,
        row.association_id,
        JSON.stringify({ path: row.path }),
      );
    }
    return { id: row.id, path: row.path };
  });
  return {
    mark,
    markDurable: (ids) => {
      markMany.immediate(ids);
    },
    list: (node) => listNotDurable.all(node) as { id: number; path: string; size: number; datasetSha256: string }[],
    drop: (id, at) => drop.immediate(id, at),
  };
}

/** The async NotDurableRows over SQLite: each call waits its turn on the connection (turns.ts). */
export function createNotDurableRows(db: Db): NotDurableRows {
  return serialised<NotDurableRows>(db, notDurableRowsSync(db));
}
