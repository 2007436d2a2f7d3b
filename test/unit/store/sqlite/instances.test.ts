import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import {
  createInstanceStore,
  type InstanceRecord,
  type InstanceStore,
} from '../../../../src/store/sqlite/instances.ts';
import { tmpDb } from '../../../helpers/queue-rows.ts';

const record = (o: Partial<InstanceRecord> = {}): InstanceRecord => ({
  studyUid: '1.2.3',
  seriesUid: '1.2.3.4',
  sopInstanceUid: '1.2.3.4.1',
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  transferSyntaxUid: '1.2.840.10008.1.2.1',
  instanceNumber: 1,
  modality: 'CT',
  path: 'aa/x/1.dcm',
  size: 100,
  datasetSha256: 'a'.repeat(64),
  source: 'dimse',
  associationId: null,
  callingAe: 'CT1',
  calledAe: 'XNAT',
  peerIp: '10.0.0.5',
  origin: null,
  at: 1000,
  ...o,
});

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

  it('counts undelivered instances of receiving and complete batches only', () => {
    store.record(record({ sopInstanceUid: '1.1', path: 'a/1' }));
    store.record(record({ sopInstanceUid: '1.2', path: 'a/2' }));
    store.record(record({ seriesUid: '9.9', sopInstanceUid: '2.1', path: 'b/1' }));
    expect(store.pendingCount()).toBe(3);
    db.prepare(`UPDATE series SET state = 'complete' WHERE series_uid = '9.9'`).run();
    expect(store.pendingCount()).toBe(3);
    db.prepare(`UPDATE series SET state = 'delivered' WHERE series_uid = '9.9'`).run();
    expect(store.pendingCount()).toBe(2);
  });

  it('records a committed identical copy as a duplicate without a new row', () => {
    const first = store.record(record());
    const again = store.record(record({ path: 'other' }));
    expect(again).toEqual({ kind: 'duplicate', instanceId: first.instanceId, seriesId: first.seriesId });
    expect(db.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(1);
  });

  it('keeps the largest last-instance time and the first known modality', () => {
    store.record(record({ sopInstanceUid: '1.1', path: 'a/1', at: 5000, modality: null }));
    store.record(record({ sopInstanceUid: '1.2', path: 'a/2', at: 4000, modality: 'MR' }));
    store.record(record({ sopInstanceUid: '1.3', path: 'a/3', at: 4500, modality: 'CT' }));
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
});
