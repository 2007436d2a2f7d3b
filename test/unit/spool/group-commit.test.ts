//! Group commit: rows arriving together, or while a commit waits, share one transaction.
import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../../src/spool/group-commit.ts';
import { createLogger } from '../../../src/log.ts';
import type { InstanceRecord, InstanceStore, RecordOutcome } from '../../../src/store/instances.ts';

const rec = (sopInstanceUid: string): InstanceRecord => ({
  studyUid: '1',
  seriesUid: '1.1',
  sopInstanceUid,
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  transferSyntaxUid: '1.2.840.10008.1.2.1',
  instanceNumber: null,
  modality: 'CT',
  path: `slots/00/${sopInstanceUid}`,
  size: 1,
  datasetSha256: '',
  source: 'dimse',
  associationId: null,
  callingAe: 'A',
  calledAe: 'B',
  peerIp: '10.0.0.1',
  origin: null,
  at: 0,
  durable: false,
});

/** An instance store whose commits wait until `release()` while `hold` is set. */
function fakeStore(): {
  store: InstanceStore;
  groups: string[][];
  marked: number[][];
  hold: boolean;
  release: () => void;
} {
  let waiting: (() => void)[] = [];
  let nextId = 1;
  const f = {
    groups: [] as string[][],
    marked: [] as number[][],
    hold: false,
    release: () => {
      const w = waiting;
      waiting = [];
      for (const go of w) {
        go();
      }
    },
    store: {} as InstanceStore,
  };
  const turn = (): Promise<void> =>
    f.hold ? new Promise<void>((resolve) => waiting.push(resolve)) : Promise.resolve();
  f.store = {
    async recordMany(rs, durableIds = []) {
      await turn();
      f.groups.push(rs.map((r) => r.sopInstanceUid));
      if (durableIds.length) {
        f.marked.push([...durableIds]);
      }
      return rs.map((): RecordOutcome => ({
        kind: 'stored',
        instanceId: nextId++,
        seriesId: 1,
        batch: 1,
        newBatch: null,
      }));
    },
    async markDurable(ids) {
      await turn();
      f.marked.push([...ids]);
    },
  } as Partial<InstanceStore> as InstanceStore;
  return f;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('commits the rows of one turn of the event loop in one transaction', async () => {
    const f = fakeStore();
    const g = createGroupCommit(f.store, createLogger('silent'));
    const out = await Promise.all([g.recordGrouped(rec('1')), g.recordGrouped(rec('2')), g.recordGrouped(rec('3'))]);
    expect(out.map((o) => o.instanceId)).toEqual([1, 2, 3]);
    expect(f.groups).toEqual([['1', '2', '3']]);
  });

  it('gathers the rows that arrive while a commit waits its turn into the next one', async () => {
    const f = fakeStore();
    const g = createGroupCommit(f.store, createLogger('silent'));
    f.hold = true; // another unit of work holds the connection
    const first = g.recordGrouped(rec('1'));
    await nextTurn();
    const later = [g.recordGrouped(rec('2'))];
    await nextTurn();
    later.push(g.recordGrouped(rec('3')));
    await nextTurn();
    later.push(g.recordGrouped(rec('4')));
    await nextTurn();
    expect(f.groups).toEqual([]);
    f.hold = false;
    f.release();
    await first;
    await Promise.all(later);
    expect(f.groups).toEqual([['1'], ['2', '3', '4']]);
  });

  it('writes the waiting durable marks with the next group, or alone when asked, after the commit under way', async () => {
    const f = fakeStore();
    const g = createGroupCommit(f.store, createLogger('silent'));
    const a = await g.recordGrouped(rec('1'));
    g.markLater(a.instanceId);
    await g.recordGrouped(rec('2'));
    expect(f.marked).toEqual([[a.instanceId]]);
    g.markLater(2);
    f.hold = true;
    const pending = g.recordGrouped(rec('3'));
    await nextTurn();
    const flushed = g.markNow();
    f.hold = false;
    f.release();
    await nextTurn();
    f.release();
    await Promise.all([pending, flushed]);
    // The mark of 2 rode on the group of 3 (taken when its commit started); nothing was left for markNow.
    expect(f.groups).toEqual([['1'], ['2'], ['3']]);
    expect(f.marked).toEqual([[a.instanceId], [2]]);
  });
});
