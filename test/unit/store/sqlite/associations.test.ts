import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAssociationStore } from '../../../../src/store/sqlite/associations.ts';
import type { AssociationStore } from '../../../../src/store/associations.ts';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import { tmpDb } from '../../../helpers/queue-rows.ts';

describe('association store', () => {
  let db: Db;
  let close: () => void;
  let store: AssociationStore;
  const peer = { source: 'dimse' as const, callingAe: 'CT1', calledAe: 'XNAT', peerIp: '10.0.0.5' };

  beforeEach(() => {
    ({ db, close } = tmpDb());
    store = createAssociationStore(db);
  });
  afterEach(() => {
    close();
  });

  it('records an open association under a fresh UUID and counts it as open', async () => {
    const a = await store.open({ ...peer, at: 1000 });
    const b = await store.open({ ...peer, at: 1001 });
    expect(a.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.uid).not.toBe(b.uid);
    expect(await store.openCount()).toBe(2);
    expect(db.prepare('SELECT calling_ae, opened_at, closed_at FROM associations WHERE id = ?').get(a.id)).toEqual({
      calling_ae: 'CT1',
      opened_at: 1000,
      closed_at: null,
    });
  });

  it('closes an association once, keeping the first outcome', async () => {
    const a = await store.open({ ...peer, at: 1000 });
    await store.close(a.uid, 'released', 2000);
    await store.close(a.uid, 'aborted', 3000);
    expect(await store.openCount()).toBe(0);
    expect(db.prepare('SELECT closed_at, outcome FROM associations WHERE id = ?').get(a.id)).toEqual({
      closed_at: 2000,
      outcome: 'released',
    });
  });

  it('finds the id of an association, also one opened by another handle', async () => {
    const a = await store.open({ ...peer, at: 1000 });
    expect(await store.idOf(a.uid)).toBe(a.id);
    const other = createAssociationStore(db);
    expect(await other.idOf(a.uid)).toBe(a.id);
    await store.close(a.uid, 'released', 2000);
    expect(await store.idOf(a.uid)).toBe(a.id);
    expect(await store.idOf('no-such-uid')).toBeUndefined();
  });

  /** A failure SQLite reports only at COMMIT, as it reports SQLITE_FULL on a full disk: a deferred foreign key broken by a trigger. */
  function failCommits(on: 'INSERT' | 'UPDATE'): () => void {
    db.exec(`CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TEMP TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TEMP TRIGGER fail_commit AFTER ${on} ON main.associations BEGIN INSERT INTO child VALUES (42); END;`);
    return () => {
      db.exec('DROP TRIGGER temp.fail_commit');
    };
  }

  it('throws when the commit of a close fails, leaving the association open to be closed again', async () => {
    const a = await store.open({ ...peer, at: 1000 });
    const restore = failCommits('UPDATE');
    await expect(store.close(a.uid, 'released', 2000)).rejects.toThrow(/FOREIGN KEY/);
    expect(await store.openCount()).toBe(1);
    restore();
    expect(await store.close(a.uid, 'released', 3000)).toMatchObject({ source: 'dimse', openedAt: 1000 });
    expect(await store.openCount()).toBe(0);
  });

  it('throws when the commit of an open fails, instead of returning an id that was never written', async () => {
    const restore = failCommits('INSERT');
    await expect(store.open({ ...peer, at: 1000 })).rejects.toThrow(/FOREIGN KEY/);
    restore();
    expect(await store.openCount()).toBe(0);
  });
});
