// The folder source's drop ledger over a real, migrated SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DropLedger } from '../../../../src/contracts/drops.ts';
import { createAssociationStore } from '../../../../src/store/sqlite/associations.ts';
import type { AssociationStore } from '../../../../src/store/associations.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createDropLedger } from '../../../../src/store/sqlite/drops.ts';
import { addInstance, addSeries } from '../../../helpers/queue-rows.ts';

const ROOT = '/data/import';

describe('createDropLedger', () => {
  let dir: string;
  let db: Db;
  let ledger: DropLedger;
  let associations: AssociationStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-drops-'));
    db = openDb(join(dir, 'gateway.db'));
    ledger = createDropLedger(db);
    associations = createAssociationStore(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const begin = (
    name = 'drop',
    at = 1_000,
    root = ROOT,
    kind: 'folder' | 'file' = 'folder',
  ): ReturnType<DropLedger['begin']> => ledger.begin({ root, name, kind, at });

  it('begin creates a drop in "reading", then resumes the same one while it is unreleased', async () => {
    const first = await begin('drop', 1_000);
    expect(first.resumed).toBe(false);
    expect(first.drop).toEqual({
      id: first.drop.id,
      root: ROOT,
      name: 'drop',
      kind: 'folder',
      state: 'reading',
      filesTotal: 0,
      filesSpooled: 0,
      filesRejected: 0,
      filesIgnored: 0,
      startedAt: 1_000,
      releasedAt: null,
      disposition: null,
      rejectedTo: null,
      associationUid: null,
    });
    const again = await begin('drop', 2_000);
    expect(again).toEqual({ drop: first.drop, resumed: true });
    // Still resumed once it is being released.
    await ledger.markReleasing(first.drop.id, { disposition: 'delete', rejectedTo: null });
    const releasing = await begin('drop', 3_000);
    expect(releasing.resumed).toBe(true);
    expect(releasing.drop).toMatchObject({ id: first.drop.id, state: 'releasing', startedAt: 1_000 });
  });

  it('the same name under another root, or another name, is another drop', async () => {
    const a = await begin('drop', 1_000, ROOT);
    const b = await begin('drop', 1_000, '/other/import');
    const c = await begin('drop2', 1_000, ROOT, 'file');
    expect(new Set([a.drop.id, b.drop.id, c.drop.id]).size).toBe(3);
    expect(c.drop.kind).toBe('file');
  });

  it('after markReleased (or markVanished) a begin of the same name creates a new drop', async () => {
    const first = (await begin('drop', 1_000)).drop;
    await ledger.markReleasing(first.id, { disposition: 'delete', rejectedTo: null });
    await ledger.markReleased(first.id, 5_000);
    expect(await ledger.get(first.id)).toMatchObject({ state: 'released', releasedAt: 5_000 });
    const second = await begin('drop', 6_000);
    expect(second.resumed).toBe(false);
    expect(second.drop.id).not.toBe(first.id);
    expect(second.drop.startedAt).toBe(6_000);

    await ledger.markVanished(second.drop.id, 7_000);
    expect(await ledger.get(second.drop.id)).toMatchObject({ state: 'vanished', releasedAt: 7_000 });
    const third = await begin('drop', 8_000);
    expect(third.resumed).toBe(false);
    expect(new Set([first.id, second.drop.id, third.drop.id]).size).toBe(3);
  });

  it('markVanished applies only to a drop still being read', async () => {
    const d = (await begin()).drop;
    await ledger.markReleasing(d.id, { disposition: 'delete', rejectedTo: null });
    await ledger.markVanished(d.id, 9_000);
    expect(await ledger.get(d.id)).toMatchObject({ state: 'releasing', releasedAt: null });
  });

  it('record upserts file rows (one per path) and keeps the counters in step', async () => {
    const seriesId = addSeries(db);
    const i1 = addInstance(db, seriesId);
    const i2 = addInstance(db, seriesId);
    const d = (await begin()).drop;
    await ledger.record(
      d.id,
      [
        { rel: 'a.dcm', size: 10, mtimeMs: 1_700_000_000_123.9, outcome: 'stored', instanceId: i1 },
        { rel: 'b.dcm', size: 20, mtimeMs: 2, outcome: 'duplicate', instanceId: i2 },
        {
          rel: 'notes.txt',
          size: 3,
          mtimeMs: 3,
          outcome: 'rejected',
          code: 'ERR_FOLDER_NOT_DICOM',
          reason: 'not DICOM',
        },
        { rel: '.DS_Store', size: 4, mtimeMs: 4, outcome: 'ignored', reason: 'operating-system file' },
      ],
      10_000,
    );
    expect(await ledger.get(d.id)).toMatchObject({ filesSpooled: 2, filesRejected: 1, filesIgnored: 1 });
    const files = await ledger.handled(d.id);
    expect(files.get('a.dcm')).toEqual({
      rel: 'a.dcm',
      size: 10,
      mtimeMs: 1_700_000_000_123,
      outcome: 'stored',
      instanceId: i1,
      code: null,
      reason: null,
    });
    expect(files.get('notes.txt')).toEqual({
      rel: 'notes.txt',
      size: 3,
      mtimeMs: 3,
      outcome: 'rejected',
      instanceId: null,
      code: 'ERR_FOLDER_NOT_DICOM',
      reason: 'not DICOM',
    });

    // A re-read file replaces its row; the counters follow.
    await ledger.record(
      d.id,
      [
        { rel: 'notes.txt', size: 300, mtimeMs: 30, outcome: 'replaced', instanceId: i1 },
        { rel: 'c.dcm', size: 5, mtimeMs: 5, outcome: 'rejected', code: 'ERR_FOLDER_TRUNCATED', reason: 'cut' },
      ],
      11_000,
    );
    expect(await ledger.get(d.id)).toMatchObject({ filesSpooled: 3, filesRejected: 1, filesIgnored: 1 });
    const after = await ledger.handled(d.id);
    expect(after.size).toBe(5);
    expect(after.get('notes.txt')).toEqual({
      rel: 'notes.txt',
      size: 300,
      mtimeMs: 30,
      outcome: 'replaced',
      instanceId: i1,
      code: null,
      reason: null,
    });
    // Another drop's rows are its own.
    const other = (await begin('other')).drop;
    expect((await ledger.handled(other.id)).size).toBe(0);
    expect(await ledger.get(other.id)).toMatchObject({ filesSpooled: 0, filesRejected: 0, filesIgnored: 0 });
  });

  it('record is one transaction: a bad row writes none of the batch', async () => {
    const d = (await begin()).drop;
    await expect(
      ledger.record(
        d.id,
        [
          { rel: 'a.dcm', size: 1, mtimeMs: 1, outcome: 'ignored' },
          // No such instance: the foreign key fails.
          { rel: 'b.dcm', size: 1, mtimeMs: 1, outcome: 'stored', instanceId: 999_999 },
        ],
        1,
      ),
    ).rejects.toThrow();
    expect((await ledger.handled(d.id)).size).toBe(0);
    expect((await ledger.get(d.id))?.filesIgnored).toBe(0);
  });

  it("setTotal records the drop's file count", async () => {
    const d = (await begin()).drop;
    await ledger.setTotal(d.id, 42);
    expect((await ledger.get(d.id))?.filesTotal).toBe(42);
  });

  it('markReleasing fixes the destinations once; a second call does not overwrite them', async () => {
    const d = (await begin()).drop;
    await ledger.markReleasing(d.id, { disposition: 'move:/data/processed/drop', rejectedTo: '/data/rejected/drop' });
    expect(await ledger.get(d.id)).toMatchObject({
      state: 'releasing',
      disposition: 'move:/data/processed/drop',
      rejectedTo: '/data/rejected/drop',
    });
    await ledger.markReleasing(d.id, { disposition: 'move:/data/processed/drop.9', rejectedTo: null });
    expect(await ledger.get(d.id)).toMatchObject({
      state: 'releasing',
      disposition: 'move:/data/processed/drop',
      rejectedTo: '/data/rejected/drop',
    });
    await ledger.markReleased(d.id, 5);
    await ledger.markReleasing(d.id, { disposition: 'delete', rejectedTo: null });
    expect(await ledger.get(d.id)).toMatchObject({ state: 'released', disposition: 'move:/data/processed/drop' });
  });

  it("unreleased(root) lists that root's drops being read or released, oldest first", async () => {
    const reading = (await begin('a')).drop;
    const releasing = (await begin('b')).drop;
    await ledger.markReleasing(releasing.id, { disposition: 'delete', rejectedTo: null });
    const released = (await begin('c')).drop;
    await ledger.markReleasing(released.id, { disposition: 'delete', rejectedTo: null });
    await ledger.markReleased(released.id, 2);
    const vanished = (await begin('d')).drop;
    await ledger.markVanished(vanished.id, 2);
    await begin('a', 1, '/other/import');
    expect((await ledger.unreleased(ROOT)).map((d) => [d.name, d.state])).toEqual([
      ['a', 'reading'],
      ['b', 'releasing'],
    ]);
    expect((await ledger.unreleased(ROOT)).map((d) => d.id)).toEqual([reading.id, releasing.id]);
    expect(await ledger.unreleased('/nowhere')).toEqual([]);
  });

  it("openAssociation returns the drop's association only while it is open", async () => {
    const d = (await begin()).drop;
    expect(await ledger.openAssociation(d.id)).toBeNull();
    const { uid } = await associations.open({ source: 'folder', callingAe: '', calledAe: '', peerIp: '', at: 1 });
    await ledger.setAssociation(d.id, uid);
    expect((await ledger.get(d.id))?.associationUid).toBe(uid);
    expect(await ledger.openAssociation(d.id)).toBe(uid);
    await associations.close(uid, 'released', 2);
    expect(await ledger.openAssociation(d.id)).toBeNull();
    // A uid with no association row (never opened, or from another database) is not open.
    await ledger.setAssociation(d.id, 'no-such-association');
    expect(await ledger.openAssociation(d.id)).toBeNull();
  });

  it('recent lists the latest drops first, up to the limit; get of an unknown id is undefined', async () => {
    const ids: number[] = [];
    for (const n of ['a', 'b', 'c', 'd']) {
      ids.push((await begin(n)).drop.id);
    }
    expect((await ledger.recent(3)).map((d) => d.name)).toEqual(['d', 'c', 'b']);
    expect((await ledger.recent(10)).map((d) => d.id)).toEqual([...ids].reverse());
    expect(await ledger.get(999_999)).toBeUndefined();
  });

  it('latest finds the newest drop of a name under a root, released or not', async () => {
    const first = (await begin('x')).drop.id;
    await ledger.markReleased(first, 5);
    const second = (await begin('x')).drop.id;
    expect(second).not.toBe(first);
    expect((await ledger.latest(ROOT, 'x'))?.id).toBe(second);
    expect(await ledger.latest(ROOT, 'nope')).toBeUndefined();
    expect(await ledger.latest('/elsewhere', 'x')).toBeUndefined();
  });
});
