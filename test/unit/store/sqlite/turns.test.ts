import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import {
  afterCommit,
  call,
  serialised,
  sqliteUnitOfWork,
  storeTransaction,
} from '../../../../src/store/sqlite/turns.ts';
import type { UnitOfWork } from '../../../../src/store/unit-of-work.ts';
import { tmpDb } from '../../../helpers/queue-rows.ts';

/** A tiny async store over a scratch table, built the way the real stores are. */
interface Notes {
  add(text: string): Promise<number>;
  all(): Promise<string[]>;
  /** Adds, and announces it after the outermost COMMIT. */
  announce(text: string, heard: string[]): Promise<void>;
  fail(): Promise<void>;
}

function notesOver(db: Db): Notes {
  db.exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO notes (text) VALUES (?)');
  const all = db.prepare('SELECT text FROM notes ORDER BY id').pluck();
  return serialised<Notes>(db, {
    add: (text) => Number(insert.run(text).lastInsertRowid),
    all: () => all.all() as string[],
    announce: (text, heard) => {
      storeTransaction(db, () => {
        insert.run(text);
        afterCommit(db, () => heard.push(text));
      });
    },
    fail: () => {
      throw new Error('refused');
    },
  });
}

/** A promise and the function that resolves it: a step the test releases by hand. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { opened, open };
}

describe('turns on the SQLite connection', () => {
  let db: Db;
  let close: () => void;
  let notes: Notes;
  let uow: UnitOfWork;
  beforeEach(() => {
    ({ db, close } = tmpDb());
    notes = notesOver(db);
    uow = sqliteUnitOfWork(db);
  });
  afterEach(() => {
    close();
  });

  it('runs a call at once when the connection is free, and turns a throw into a rejection', async () => {
    const p = notes.add('a');
    // Written before the caller even awaits: no queueing when nobody holds the connection.
    expect(db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(1);
    expect(await p).toBe(1);
    await expect(notes.fail()).rejects.toThrow('refused');
  });

  it('commits the calls of a unit of work together, and rolls all of them back when it throws', async () => {
    await uow.run(async () => {
      await notes.add('a');
      await notes.add('b');
    });
    await expect(
      uow.run(async () => {
        await notes.add('c');
        await notes.fail();
      }),
    ).rejects.toThrow('refused');
    expect(await notes.all()).toEqual(['a', 'b']);
    expect(db.inTransaction).toBe(false);
  });

  it('makes other callers wait until the unit commits, so their writes are never part of it', async () => {
    const step = gate();
    const unit = uow.run(async () => {
      await notes.add('inside');
      await step.opened;
      throw new Error('rolled back');
    });
    // Another caller while the unit is open: queued, not run inside the transaction.
    const outside = notes.add('outside');
    const read = notes.all();
    expect(db.prepare('SELECT text FROM notes ORDER BY id').pluck().all()).toEqual(['inside']);
    step.open();
    await expect(unit).rejects.toThrow('rolled back');
    await outside;
    // The other caller's write survived the unit's rollback; its read came after the unit ended.
    expect(await read).toEqual(['outside']);
    expect(await notes.all()).toEqual(['outside']);
  });

  it('runs queued callers in arrival order, a second unit after the first has committed', async () => {
    const order: string[] = [];
    const step = gate();
    const first = uow.run(async () => {
      await notes.add('1');
      await step.opened;
      order.push('first committed next');
    });
    const plain = notes.add('2');
    const second = uow.run(async () => {
      order.push(`second sees ${(await notes.all()).join(',')}`);
      await notes.add('3');
    });
    step.open();
    await Promise.all([first, plain, second]);
    // The plain call waited behind the first unit and ran before the second one began.
    expect(order).toEqual(['first committed next', 'second sees 1,2']);
    expect(await notes.all()).toEqual(['1', '2', '3']);
  });

  it('makes work a unit started but did not await take its turn once the unit is over', async () => {
    let detached: Promise<number> | undefined;
    const later = gate();
    await uow.run(async () => {
      await notes.add('unit');
      // Started inside the unit, runs after it: it inherits the unit's async context.
      detached = later.opened.then(() => notes.add('detached'));
    });
    const step = gate();
    const other = uow.run(async () => {
      await notes.add('other');
      await step.opened;
      throw new Error('other rolls back');
    });
    later.open();
    await Promise.resolve();
    await Promise.resolve();
    // Not inside the other unit's transaction: it waits for it.
    expect(db.prepare('SELECT text FROM notes ORDER BY id').pluck().all()).toEqual(['unit', 'other']);
    step.open();
    await expect(other).rejects.toThrow('other rolls back');
    await detached;
    expect(await notes.all()).toEqual(['unit', 'detached']);
  });

  it('makes a nested unit a savepoint: its rollback keeps the outer unit’s work', async () => {
    await uow.run(async () => {
      await notes.add('outer');
      await expect(
        uow.run(async () => {
          await notes.add('inner');
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await notes.add('after');
    });
    expect(await notes.all()).toEqual(['outer', 'after']);
  });

  it('announces a store’s change only after the outermost COMMIT, and never after a ROLLBACK', async () => {
    const heard: string[] = [];
    await notes.announce('alone', heard);
    expect(heard).toEqual(['alone']);
    await uow.run(async () => {
      await notes.announce('kept', heard);
      expect(heard).toEqual(['alone']);
    });
    expect(heard).toEqual(['alone', 'kept']);
    await expect(
      uow.run(async () => {
        await notes.announce('dropped', heard);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(heard).toEqual(['alone', 'kept']);
    expect(await notes.all()).toEqual(['alone', 'kept']);
  });

  it('hands the connection on when BEGIN fails (another process holds the write lock)', async () => {
    const other = new Database(db.name);
    other.pragma('busy_timeout = 0');
    db.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    try {
      await expect(uow.run(async () => notes.add('x'))).rejects.toThrow(/locked|busy/i);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    // Not stuck: the next unit and the next call run.
    await uow.run(async () => notes.add('y'));
    expect(await call(db, () => 'free')).toBe('free');
    expect(await notes.all()).toEqual(['y']);
  });
});
