//! Records a durably spooled instance: series batch, dedupe, replacement, audit — one transaction.
import { instanceAudit } from './audit.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';
import type { SeriesState } from '../../events.ts';
import { INSERT_LOOKUP } from './find-index.ts';
import { NeedsDurableFile, type InstanceRecord, type InstanceStore, type RecordOutcome } from '../instances.ts';
import { notDurableRowsSync } from './not-durable.ts';

interface ExistingRow {
  id: number;
  series_id: number;
  dataset_sha256: string;
  path: string;
  state: SeriesState;
  batch: number;
}

export function instanceStoreSync(db: Db): Sync<InstanceStore> {
  const notDurable = notDurableRowsSync(db);
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
  const audit = instanceAudit(db);
  const knownPath = db.prepare('SELECT 1 FROM instances WHERE path = ?').pluck();
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

  const recordMany = db.transaction((rs: readonly InstanceRecord[], durableIds: readonly number[]) => {
    notDurable.mark(durableIds);
    return rs.map((r) => {
      try {
        return record(r);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
  });
  return {
    record: (r) => record.immediate(r),
    recordMany: (rs, durableIds = []) => recordMany.immediate(rs, durableIds),
    markDurable: (ids) => {
      notDurable.markDurable(ids);
    },
    notDurable: (node) => notDurable.list(node),
    dropNotDurable: (id, at) => notDurable.drop(id, at),
    pendingCount: () => pending.get() as number,
    knowsPath: (path) => knownPath.get(path) !== undefined,
  };
}

/** The async InstanceStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createInstanceStore(db: Db): InstanceStore {
  return serialised<InstanceStore>(db, instanceStoreSync(db));
}
