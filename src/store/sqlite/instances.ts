//! Records a durably spooled instance: series batch, dedupe, replacement, audit — one transaction.
import type { Db } from './db.ts';
import type { SourceId, SeriesState } from '../../events.ts';
import { INSERT_LOOKUP, type LookupDigest } from './find-index.ts';

export interface InstanceRecord {
  readonly studyUid: string;
  readonly seriesUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  readonly instanceNumber: number | null;
  readonly modality: string | null;
  readonly path: string;
  readonly size: number;
  readonly datasetSha256: string;
  readonly source: SourceId;
  readonly associationId: number | null;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
  readonly origin: string | null;
  readonly at: number;
  /** Keyed digests of the instance's PatientID and AccessionNumber, recorded for its batch (find). */
  readonly lookup?: readonly LookupDigest[] | undefined;
  /** False: the spool file's fsync is still running (ADR 0013); the row is marked durable = 0 until
   *  `markDurable`, and its batch cannot complete. Absent: durable already. */
  readonly durable?: boolean;
}

/**
 * Refused for a row whose file is not durable yet: it would replace, in place, a version already
 * acknowledged, which a crash before the fsync would then lose. The caller waits for its fsync and
 * records it again as durable.
 */
export class NeedsDurableFile extends Error {
  override readonly name = 'NeedsDurableFile';
}

/** A row whose file did not become durable (fsync failed, or found torn at start-up). */
export interface DroppedInstance {
  readonly id: number;
  readonly path: string;
}

export type RecordOutcome =
  | {
      kind: 'stored';
      instanceId: number;
      seriesId: number;
      batch: number;
      newBatch: { from: SeriesState | null } | null;
    }
  | { kind: 'duplicate'; instanceId: number; seriesId: number }
  | {
      kind: 'replaced';
      instanceId: number;
      seriesId: number;
      batch: number;
      oldPath: string | null;
      newBatch: { from: SeriesState | null } | null;
    };

interface ExistingRow {
  id: number;
  series_id: number;
  dataset_sha256: string;
  path: string;
  state: SeriesState;
  batch: number;
}

export interface InstanceStore {
  /**
   * Commits the instance (its spool file is already durable). A re-sent identical copy (same SOP
   * Instance UID in the same series, same bytes) is audited and reported as 'duplicate'.
   */
  record(r: InstanceRecord): RecordOutcome;
  /**
   * Records several instances in one transaction (group commit: one WAL fsync for all). Each runs
   * in its own savepoint, so one failing row (returned as its Error) does not undo the others.
   * Throws only when the transaction as a whole cannot commit.
   */
  recordMany(rs: readonly InstanceRecord[], durableIds?: readonly number[]): (RecordOutcome | Error)[];
  /** Marks rows durable (their files' fsyncs completed), in the transaction of the next group when
   *  `recordMany` gets them as `durableIds`, or alone here. */
  markDurable(ids: readonly number[]): void;
  /** Rows not yet marked durable, with what start-up reconciliation checks their files against. */
  notDurable(node: string | null): { id: number; path: string; size: number; datasetSha256: string }[];
  /**
   * Removes a row whose file never became durable (it was never acknowledged): counts of its batch
   * and association are taken back, audit rows keep their event without it, and a receiving batch
   * left empty is removed. Audited as instance.not-durable.
   */
  dropNotDurable(id: number, at: number): DroppedInstance | null;
  /** Undelivered instances (receiving or complete batches): the back-pressure measure. */
  pendingCount(): number;
  /** Whether an instance row references this spool path (relative to the spool directory). */
  knowsPath(path: string): boolean;
}

export function createInstanceStore(db: Db): InstanceStore {
  const existing = db.prepare(
    `SELECT i.id, i.series_id, i.dataset_sha256, i.path, s.state, s.batch
       FROM instances i JOIN series s ON s.id = i.series_id
      WHERE s.study_uid = ? AND s.series_uid = ? AND i.sop_instance_uid = ?
      ORDER BY s.batch DESC`,
  );
  const latestBatch = db.prepare(
    `SELECT id, batch, state FROM series WHERE study_uid = ? AND series_uid = ? ORDER BY batch DESC LIMIT 1`,
  );
  const newBatch = db.prepare(
    `INSERT INTO series (study_uid, series_uid, batch, modality, first_instance_at, last_instance_at)
     VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
  );
  const bumpSeries = db.prepare(
    `UPDATE series SET instance_count = instance_count + @n, byte_count = byte_count + @bytes,
            last_instance_at = max(last_instance_at, @at), modality = coalesce(modality, @modality)
      WHERE id = @id`,
  );
  const insertInstance = db.prepare(
    `INSERT INTO instances (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number,
       path, size, dataset_sha256, source, association_id, calling_ae, called_ae, peer_ip, origin, received_at, durable)
     VALUES (@seriesId, @sopInstanceUid, @sopClassUid, @transferSyntaxUid, @instanceNumber, @path, @size,
       @datasetSha256, @source, @associationId, @callingAe, @calledAe, @peerIp, @origin, @at, @durable) RETURNING id`,
  );
  const replaceInstance = db.prepare(
    `UPDATE instances SET sop_class_uid = @sopClassUid, transfer_syntax_uid = @transferSyntaxUid,
       instance_number = @instanceNumber, path = @path, size = @size, dataset_sha256 = @datasetSha256,
       source = @source, association_id = @associationId, calling_ae = @callingAe, called_ae = @calledAe,
       peer_ip = @peerIp, origin = @origin, received_at = @at
     WHERE id = @id`,
  );
  const linkAssoc = db.prepare(`INSERT OR IGNORE INTO series_associations (series_id, association_id) VALUES (?, ?)`);
  const bumpAssoc = db.prepare(`UPDATE associations SET instances = instances + 1, bytes = bytes + ? WHERE id = ?`);
  const lookup = db.prepare(INSERT_LOOKUP);
  const audit = db.prepare(
    `INSERT INTO events (at, kind, series_id, instance_id, association_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const knownPath = db.prepare('SELECT 1 FROM instances WHERE path = ?').pluck();
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
  const pending = db
    .prepare(`SELECT coalesce(sum(instance_count), 0) FROM series WHERE state IN ('receiving', 'complete')`)
    .pluck();

  /** The batch that takes new instances: the latest one if still receiving, otherwise a new one. */
  function openBatch(r: InstanceRecord): { id: number; batch: number; created: { from: SeriesState | null } | null } {
    const latest = latestBatch.get(r.studyUid, r.seriesUid) as
      { id: number; batch: number; state: SeriesState } | undefined;
    if (latest?.state === 'receiving') {
      return { id: latest.id, batch: latest.batch, created: null };
    }
    const batch = (latest?.batch ?? 0) + 1;
    const { id } = newBatch.get(r.studyUid, r.seriesUid, batch, r.modality, r.at, r.at) as { id: number };
    if (latest) {
      audit.run(
        r.at,
        'series.late-arrival',
        id,
        null,
        r.associationId,
        JSON.stringify({ previousBatch: latest.batch, previousState: latest.state }),
      );
    }
    return { id, batch, created: { from: latest ? latest.state : null } };
  }

  const record = db.transaction((r: InstanceRecord): RecordOutcome => {
    const rows = existing.all(r.studyUid, r.seriesUid, r.sopInstanceUid) as ExistingRow[];
    const same = rows.find((row) => row.dataset_sha256 === r.datasetSha256);
    if (same) {
      audit.run(r.at, 'instance.duplicate', same.series_id, same.id, r.associationId, '{}');
      return { kind: 'duplicate', instanceId: same.id, seriesId: same.series_id };
    }
    const target = openBatch(r);
    for (const l of r.lookup ?? []) {
      lookup.run(target.id, l.kind, l.digest);
    }
    const prior = rows[0];
    if (r.associationId !== null) {
      linkAssoc.run(target.id, r.associationId);
      bumpAssoc.run(r.size, r.associationId);
    }
    const inTarget = rows.find((row) => row.series_id === target.id);
    if (inTarget) {
      // Same batch still receiving: the newer version replaces the older one in place. The older
      // one was acknowledged, so it may only go once the newer file is durable.
      if (r.durable === false) {
        throw new NeedsDurableFile('An in-place replacement waits for its file to be durable.');
      }
      replaceInstance.run({ ...r, id: inTarget.id });
      bumpSeries.run({ id: target.id, n: 0, bytes: 0, at: r.at, modality: r.modality });
      audit.run(
        r.at,
        'instance.replaced',
        target.id,
        inTarget.id,
        r.associationId,
        JSON.stringify({ previousSha256: inTarget.dataset_sha256 }),
      );
      return {
        kind: 'replaced',
        instanceId: inTarget.id,
        seriesId: target.id,
        batch: target.batch,
        oldPath: inTarget.path,
        newBatch: target.created,
      };
    }
    const { id } = insertInstance.get({ ...r, seriesId: target.id, durable: r.durable === false ? 0 : 1 }) as {
      id: number;
    };
    bumpSeries.run({ id: target.id, n: 1, bytes: r.size, at: r.at, modality: r.modality });
    if (prior) {
      // A different version of an instance that an earlier batch holds (and may have delivered).
      audit.run(
        r.at,
        'instance.replaced',
        target.id,
        id,
        r.associationId,
        JSON.stringify({ previousBatch: prior.batch, previousSha256: prior.dataset_sha256 }),
      );
      return {
        kind: 'replaced',
        instanceId: id,
        seriesId: target.id,
        batch: target.batch,
        oldPath: null,
        newBatch: target.created,
      };
    }
    return { kind: 'stored', instanceId: id, seriesId: target.id, batch: target.batch, newBatch: target.created };
  });

  const mark = (ids: readonly number[]): void => {
    for (const id of ids) {
      setDurable.run(id);
    }
  };
  const recordMany = db.transaction((rs: readonly InstanceRecord[], durableIds: readonly number[]) => {
    mark(durableIds);
    return rs.map((r) => {
      try {
        return record(r);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
  });
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
    record: (r) => record.immediate(r),
    recordMany: (rs, durableIds = []) => recordMany.immediate(rs, durableIds),
    markDurable: (ids) => {
      markMany.immediate(ids);
    },
    notDurable: (node) =>
      listNotDurable.all(node) as { id: number; path: string; size: number; datasetSha256: string }[],
    dropNotDurable: (id, at) => drop.immediate(id, at),
    pendingCount: () => pending.get() as number,
    knowsPath: (path) => knownPath.get(path) !== undefined,
  };
}
