import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import { createInstanceStore } from '../../../../src/store/sqlite/instances.ts';
import { NeedsDurableFile, type InstanceStore } from '../../../../src/store/instances.ts';
import { tmpDb } from '../../../helpers/queue-rows.ts';
import { instanceRecord } from '../../../helpers/instance-record.ts';

const record = instanceRecord;

describe('instance store', () => {
  let db: Db;
  let close: () => void;
  let store: InstanceStore;
  beforeEach(() => {
    ({ db, close } = tmpDb());
    store = createInstanceStore(db);
  });
  afterEach(() => {
    close();
  });

  it('counts undelivered instances of receiving and complete batches only', async () => {
    await store.record(record({ sopInstanceUid: '1.1', path: 'a/1' }));
    await store.record(record({ sopInstanceUid: '1.2', path: 'a/2' }));
    await store.record(record({ seriesUid: '9.9', sopInstanceUid: '2.1', path: 'b/1' }));
    expect(await store.pendingCount()).toBe(3);
    db.prepare(`UPDATE series SET state = 'complete' WHERE series_uid = '9.9'`).run();
    expect(await store.pendingCount()).toBe(3);
    db.prepare(`UPDATE series SET state = 'delivered' WHERE series_uid = '9.9'`).run();
    expect(await store.pendingCount()).toBe(2);
  });

  it('records a committed identical copy as a duplicate without a new row', async () => {
    const first = await store.record(record());
    const again = await store.record(record({ path: 'other' }));
    expect(again).toEqual({ kind: 'duplicate', instanceId: first.instanceId, seriesId: first.seriesId });
    expect(db.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(1);
  });

  it('keeps the largest last-instance time and the first known modality', async () => {
    await store.record(record({ sopInstanceUid: '1.1', path: 'a/1', at: 5000, modality: null }));
    await store.record(record({ sopInstanceUid: '1.2', path: 'a/2', at: 4000, modality: 'MR' }));
    await store.record(record({ sopInstanceUid: '1.3', path: 'a/3', at: 4500, modality: 'CT' }));
    expect(
      db.prepare('SELECT instance_count, byte_count, first_instance_at, last_instance_at, modality FROM series').get(),
    ).toEqual({
      instance_count: 3,
      byte_count: 300,
      first_instance_at: 5000,
      last_instance_at: 5000,
      modality: 'MR',
    });
  });

  describe('rows committed before their file is durable (ADR 0013)', () => {
    const notDurable = async (): Promise<{ id: number }[]> => (await store.notDurable(null)).map((r) => ({ id: r.id }));

    it('records them not durable until marked, alone or with the next group', async () => {
      const a = await store.record(record({ sopInstanceUid: '5.1', path: 'a/1', durable: false }));
      const b = await store.record(record({ sopInstanceUid: '5.2', path: 'a/2', durable: false }));
      expect(await notDurable()).toEqual([{ id: a.instanceId }, { id: b.instanceId }]);
      await store.markDurable([a.instanceId]);
      expect(await notDurable()).toEqual([{ id: b.instanceId }]);
      const [c] = await store.recordMany(
        [record({ sopInstanceUid: '5.3', path: 'a/3', durable: false })],
        [b.instanceId],
      );
      expect(await notDurable()).toEqual([{ id: (c as { instanceId: number }).instanceId }]);
      expect((await store.notDurable(null))[0]).toEqual({
        id: (c as { instanceId: number }).instanceId,
        path: 'a/3',
        size: 100,
        datasetSha256: 'a'.repeat(64),
      });
    });

    it('refuses to replace an acknowledged version in place until the new file is durable', async () => {
      const first = await store.record(record({ sopInstanceUid: '6.1', path: 'a/1' }));
      const [refused] = await store.recordMany([
        record({ sopInstanceUid: '6.1', path: 'a/2', datasetSha256: 'b'.repeat(64), durable: false }),
      ]);
      expect(refused).toBeInstanceOf(NeedsDurableFile);
      expect(db.prepare('SELECT path FROM instances WHERE id = ?').pluck().get(first.instanceId)).toBe('a/1');
      const again = await store.record(
        record({ sopInstanceUid: '6.1', path: 'a/2', datasetSha256: 'b'.repeat(64), durable: true }),
      );
      expect(again).toMatchObject({ kind: 'replaced', instanceId: first.instanceId, oldPath: 'a/1' });
    });

    it('drops a row whose file never became durable, its counts taken back and an emptied batch removed', async () => {
      db.prepare(
        `INSERT INTO associations (uid, source, calling_ae, called_ae, peer_ip, opened_at) VALUES ('u1', 'dimse', 'CT1', 'XNAT', '10.0.0.5', 1)`,
      ).run();
      const kept = await store.record(record({ sopInstanceUid: '7.1', path: 'a/1', associationId: 1 }));
      const torn = await store.record(record({ sopInstanceUid: '7.2', path: 'a/2', associationId: 1, durable: false }));
      const alone = await store.record(
        record({ seriesUid: '8.8', sopInstanceUid: '8.1', path: 'b/1', associationId: 1, durable: false }),
      );
      expect(await store.dropNotDurable(kept.instanceId, 2000)).toBeNull(); // durable rows are never dropped
      expect(await store.dropNotDurable(torn.instanceId, 2000)).toEqual({ id: torn.instanceId, path: 'a/2' });
      expect(await store.dropNotDurable(alone.instanceId, 2000)).toEqual({ id: alone.instanceId, path: 'b/1' });
      expect(db.prepare('SELECT series_uid, instance_count, byte_count FROM series').all()).toEqual([
        { series_uid: '1.2.3.4', instance_count: 1, byte_count: 100 },
      ]);
      expect(db.prepare('SELECT instances, bytes FROM associations').get()).toEqual({ instances: 1, bytes: 100 });
      expect(db.prepare('SELECT id FROM instances').pluck().all()).toEqual([kept.instanceId]);
      expect(db.prepare(`SELECT count(*) FROM events WHERE kind = 'instance.not-durable'`).pluck().get()).toBe(2);
      expect(await store.notDurable(null)).toEqual([]);
    });
  });
});
