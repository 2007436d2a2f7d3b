import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { createAssociationStore } from '../../../src/store/sqlite/associations.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { createWriteLater } from '../../../src/store/write-later.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';

const full = (): never => {
  throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
};

describe('writes that must happen later', () => {
  let clock: FakeClock;
  beforeEach(() => {
    clock = createFakeClock();
  });

  it('runs a write at once when it succeeds', async () => {
    const later = createWriteLater({ clock, log: createLogger('silent') });
    let n = 0;
    later.run('count', () => {
      n++;
      return Promise.resolve();
    });
    expect(n).toBe(1);
    await later.settled();
    expect(later.pending).toBe(0);
  });

  it('never throws; retries every second until the write succeeds, keeping the order of writes', async () => {
    const later = createWriteLater({ clock, log: createLogger('silent') });
    let diskFull = true;
    const done: string[] = [];
    const write = (name: string) => async (): Promise<void> => {
      await Promise.resolve();
      if (diskFull) {
        full();
      }
      done.push(name);
    };
    expect(() => {
      later.run('a', write('a'));
    }).not.toThrow();
    // Behind a postponed write, a later one waits its turn even if it could succeed.
    later.run('b', () => {
      done.push('b');
      return Promise.resolve();
    });
    await later.settled();
    expect(later.pending).toBe(2);
    clock.advance(5000);
    await later.settled();
    expect(done).toEqual([]);
    diskFull = false;
    clock.advance(1000);
    await later.settled();
    expect(done).toEqual(['a', 'b']);
    expect(later.pending).toBe(0);
  });

  it('tries once more on stop, then stops retrying', async () => {
    const later = createWriteLater({ clock, log: createLogger('silent') });
    let ok = false;
    later.run('x', async () => {
      await Promise.resolve();
      if (!ok) {
        full();
      }
    });
    await later.settled();
    expect(later.pending).toBe(1);
    ok = true;
    await later.stop();
    expect(later.pending).toBe(0);
    expect(clock.pending).toBe(0);
  });

  describe('closing an association on a full disk', () => {
    let dir: string;
    let db: Db;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'xg-later-'));
      db = openDb(join(dir, 'gateway.db'));
    });
    afterEach(() => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('closes the row once SQLite accepts writes again', async () => {
      const store = createAssociationStore(db);
      const later = createWriteLater({ clock, log: createLogger('silent') });
      const { uid } = await store.open({ source: 'dimse', callingAe: 'A', calledAe: 'XNAT', peerIp: '1.2.3.4', at: 0 });
      // A full disk as SQLite reports it: every write to associations fails.
      db.exec(
        `CREATE TRIGGER full BEFORE UPDATE ON associations BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`,
      );
      later.run('close', () => store.close(uid, 'released', 1));
      await later.settled();
      expect(await store.openCount()).toBe(1);
      db.exec('DROP TRIGGER full');
      clock.advance(1000);
      await later.settled();
      expect(await store.openCount()).toBe(0);
    });
  });
});
