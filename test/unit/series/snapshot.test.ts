import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonError } from '../../../src/errors.ts';
import { createSnapshotLoader, loadSnapshot } from '../../../src/series/snapshot.ts';
import { createTmpDb, insertInstance, insertSeries, type TmpDb } from '../../helpers/series-rows.ts';

describe('loadSnapshot', () => {
  let t: TmpDb;
  beforeEach(() => {
    t = createTmpDb();
  });
  afterEach(() => {
    t.cleanup();
  });

  it('orders instances by instance number then SOP UID, with absolute spool paths', async () => {
    const id = insertSeries(t.db, { lastInstanceAt: 1, studyUid: '1.2', seriesUid: '1.2.3', batch: 2 });
    insertInstance(t.db, id, { sopInstanceUid: '1.9', path: 'a/9.dcm', instanceNumber: 2, size: 9 });
    insertInstance(t.db, id, { sopInstanceUid: '1.8', path: 'a/8.dcm', instanceNumber: 2 });
    insertInstance(t.db, id, { sopInstanceUid: '1.1', path: 'a/1.dcm', instanceNumber: 1 });
    insertInstance(t.db, id, { sopInstanceUid: '1.0', path: 'a/0.dcm', instanceNumber: null });
    const s = await loadSnapshot(t.db, id, '/spool');
    expect(s).toMatchObject({
      seriesId: id,
      studyInstanceUid: '1.2',
      seriesInstanceUid: '1.2.3',
      batch: 2,
      modality: 'CT',
    });
    expect(s.instances.map((i) => i.sopInstanceUid)).toEqual(['1.1', '1.8', '1.9', '1.0']);
    expect(s.instances[2]).toMatchObject({
      path: '/spool/a/9.dcm',
      size: 9,
      instanceNumber: 2,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
    });
    expect(Object.isFrozen(s.instances)).toBe(true);
  });

  it('throws a non-retryable error for an unknown series', async () => {
    const load = createSnapshotLoader(t.db, '/spool');
    await expect(load(42)).rejects.toThrow(DaemonError);
  });
});
