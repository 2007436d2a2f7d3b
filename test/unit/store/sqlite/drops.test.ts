// The folder source's drop ledger over a real, migrated SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DropLedger } from '../../../../src/contracts/drops.ts';
import { createAssociationStore, type AssociationStore } from '../../../../src/store/sqlite/associations.ts';
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

  it('begin creates a drop in "reading", then resumes the same one while it is unreleased', () => {
    const first = begin('drop', 1_000);
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
    const again = begin('drop', 2_000);
    expect(again).toEqual({ drop: first.drop, resumed: true });
    // Still resumed once it is being released.
    ledger.markReleasing(first.drop.id, { disposition: 'delete', rejectedTo: null });
    const releasing = begin('drop', 3_000);
    expect(releasing.resumed).toBe(true);
    expect(releasing.drop).toMatchObject({ id: first.drop.id, state: 'releasing', startedAt: 1_000 });
  });

  it('the same name under another root, or another name, is another drop', () => {
    const a = begin('drop', 1_000, ROOT);
    const b = begin('drop', 1_000, '/other/import');
    const c = begin('drop2', 1_000, ROOT, 'file');
    expect(new Set([a.drop.id, b.drop.id, c.drop.id]).size).toBe(3);
    expect(c.drop.kind).toBe('file');
  });

  it('after markReleased (or markVanished) a begin of the same name creates a new drop', () => {
    const first = begin('drop', 1_000).drop;
    ledger.markReleasing(first.id, { disposition: 'delete', rejectedTo: null });
    ledger.markReleased(first.id, 5_000);
    expect(ledger.get(first.id)).toMatchObject({ state: 'released', releasedAt: 5_000 });
    const second = begin('drop', 6_000);
    expect(second.resumed).toBe(false);
    expect(second.drop.id).not.toBe(first.id);
    expect(second.drop.startedAt).toBe(6_000);

    ledger.markVanished(second.drop.id, 7_000);
    expect(ledger.get(second.drop.id)).toMatchObject({ state: 'vanished', releasedAt: 7_000 });
    const third = begin('drop', 8_000);
    expect(third.resumed).toBe(false);
    expect(new Set([first.id, second.drop.id, third.drop.id]).size).toBe(3);
  });

  it('markVanished applies only to a drop still being read', () => {
    const d = begin().drop;
    ledger.markReleasing(d.id, { disposition: 'delete', rejectedTo: null });
    ledger.markVanished(d.id, 9_000);
    expect(ledger.get(d.id)).toMatchObject({ state: 'releasing', releasedAt: null });
  });

  it('record upserts file rows (one per path) and keeps the counters in step', () => {
    const seriesId = addSeries(db);
    const i1 = addInstance(db, seriesId);
    const i2 = addInstance(db, seriesId);
    const d = begin().drop;
    ledger.record(
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
    expect(ledger.get(d.id)).toMatchObject({ filesSpooled: 2, filesRejected: 1, filesIgnored: 1 });
    const files = ledger.handled(d.id);
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
    ledger.record(
      d.id,
      [
        { rel: 'notes.txt', size: 300, mtimeMs: 30, outcome: 'replaced', instanceId: i1 },
        { rel: 'c.dcm', size: 5, mtimeMs: 5, outcome: 'rejected', code: 'ERR_FOLDER_TRUNCATED', reason: 'cut' },
      ],
      11_000,
    );
    expect(ledger.get(d.id)).toMatchObject({ filesSpooled: 3, filesRejected: 1, filesIgnored: 1 });
    const after = ledger.handled(d.id);
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
    const other = begin('other').drop;
    expect(ledger.handled(other.id).size).toBe(0);
    expect(ledger.get(other.id)).toMatchObject({ filesSpooled: 0, filesRejected: 0, filesIgnored: 0 });
  });

  it('record is one transaction: a bad row writes none of the batch', () => {
    const d = begin().drop;
    expect(() => {
      ledger.record(
        d.id,
        [
          { rel: 'a.dcm', size: 1, mtimeMs: 1, outcome: 'ignored' },
          // No such instance: the foreign key fails.
          { rel: 'b.dcm', size: 1, mtimeMs: 1, outcome: 'stored', instanceId: 999_999 },
        ],
        1,
      );
    }).toThrow();
    expect(ledger.handled(d.id).size).toBe(0);
    expect(ledger.get(d.id)?.filesIgnored).toBe(0);
  });

  it("setTotal records the drop's file count", () => {
    const d = begin().drop;
    ledger.setTotal(d.id, 42);
    expect(ledger.get(d.id)?.filesTotal).toBe(42);
  });

  it('markReleasing fixes the destinations once; a second call does not overwrite them', () => {
    const d = begin().drop;
    ledger.markReleasing(d.id, { disposition: 'move:/data/processed/drop', rejectedTo: '/data/rejected/drop' });
    expect(ledger.get(d.id)).toMatchObject({
      state: 'releasing',
      disposition: 'move:/data/processed/drop',
      rejectedTo: '/data/rejected/drop',
    });
    ledger.markReleasing(d.id, { disposition: 'move:/data/processed/drop.9', rejectedTo: null });
    expect(ledger.get(d.id)).toMatchObject({
      state: 'releasing',
      disposition: 'move:/data/processed/drop',
      rejectedTo: '/data/rejected/drop',
    });
    ledger.markReleased(d.id, 5);
    ledger.markReleasing(d.id, { disposition: 'delete', rejectedTo: null });
    expect(ledger.get(d.id)).toMatchObject({ state: 'released', disposition: 'move:/data/processed/drop' });
  });

  it("unreleased(root) lists that root's drops being read or released, oldest first", () => {
    const reading = begin('a').drop;
    const releasing = begin('b').drop;
    ledger.markReleasing(releasing.id, { disposition: 'delete', rejectedTo: null });
    const released = begin('c').drop;
    ledger.markReleasing(released.id, { disposition: 'delete', rejectedTo: null });
    ledger.markReleased(released.id, 2);
    const vanished = begin('d').drop;
    ledger.markVanished(vanished.id, 2);
    begin('a', 1, '/other/import');
    expect(ledger.unreleased(ROOT).map((d) => [d.name, d.state])).toEqual([
      ['a', 'reading'],
      ['b', 'releasing'],
    ]);
    expect(ledger.unreleased(ROOT).map((d) => d.id)).toEqual([reading.id, releasing.id]);
    expect(ledger.unreleased('/nowhere')).toEqual([]);
  });

  it("openAssociation returns the drop's association only while it is open", () => {
    const d = begin().drop;
    expect(ledger.openAssociation(d.id)).toBeNull();
    const { uid } = associations.open({ source: 'folder', callingAe: '', calledAe: '', peerIp: '', at: 1 });
    ledger.setAssociation(d.id, uid);
    expect(ledger.get(d.id)?.associationUid).toBe(uid);
    expect(ledger.openAssociation(d.id)).toBe(uid);
    associations.close(uid, 'released', 2);
    expect(ledger.openAssociation(d.id)).toBeNull();
    // A uid with no association row (never opened, or from another database) is not open.
    ledger.setAssociation(d.id, 'no-such-association');
    expect(ledger.openAssociation(d.id)).toBeNull();
  });

  it('recent lists the latest drops first, up to the limit; get of an unknown id is undefined', () => {
    const ids = ['a', 'b', 'c', 'd'].map((n) => begin(n).drop.id);
    expect(ledger.recent(3).map((d) => d.name)).toEqual(['d', 'c', 'b']);
    expect(ledger.recent(10).map((d) => d.id)).toEqual([...ids].reverse());
    expect(ledger.get(999_999)).toBeUndefined();
  });

  it('latest finds the newest drop of a name under a root, released or not', () => {
    const first = begin('x').drop.id;
    ledger.markReleased(first, 5);
    const second = begin('x').drop.id;
    expect(second).not.toBe(first);
    expect(ledger.latest(ROOT, 'x')?.id).toBe(second);
    expect(ledger.latest(ROOT, 'nope')).toBeUndefined();
    expect(ledger.latest('/elsewhere', 'x')).toBeUndefined();
  });
});
