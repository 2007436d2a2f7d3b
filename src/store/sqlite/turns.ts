//! Turn-taking on the one SQLite connection behind the async store interfaces.
// better-sqlite3 is synchronous, so one store call is atomic by itself. A unit of work is not: its
// function awaits between calls, and in those gaps any other caller's statement would land inside
// the open transaction (committed or rolled back with work that is not its own). So while a unit
// of work holds the connection, every other call waits its turn in arrival order; calls made by the
// unit itself (found through AsyncLocalStorage) go straight through. With the connection free a
// call runs at once, as the synchronous code did, and nothing is queued.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from './db.ts';
import type { Sync, UnitOfWork } from '../unit-of-work.ts';

interface Turns {
  /** A unit of work holds the connection. */
  held: boolean;
  /** Callers waiting, in arrival order; each is started when its turn comes. */
  readonly waiting: (() => void)[];
}

const turnsOf = new WeakMap<Db, Turns>();
/**
 * The unit of work the current async flow runs in. `open` turns false when that unit ends: work
 * the unit started and did not await (a timer, a detached promise) inherits the context, and must
 * take its turn like anyone else once the unit is over.
 */
interface Hold {
  readonly db: Db;
  open: boolean;
}
const holder = new AsyncLocalStorage<Hold>();

/** Whether the current flow runs inside an open unit of work on `db`. */
function holds(db: Db): boolean {
  const h = holder.getStore();
  return h !== undefined && h.db === db && h.open;
}
/** Callbacks waiting for the outermost unit of work to commit, per connection. */
const pending = new WeakMap<Db, (() => void)[]>();

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function turns(db: Db): Turns {
  let t = turnsOf.get(db);
  if (!t) {
    t = { held: false, waiting: [] };
    turnsOf.set(db, t);
  }
  return t;
}

/** Starts waiting callers until one of them takes the connection for a unit of work. */
function handOn(t: Turns): void {
  while (!t.held) {
    const next = t.waiting.shift();
    if (!next) {
      return;
    }
    next();
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(asError(err));
  }
}

/** Runs the synchronous `fn` on `db` as soon as it is this caller's turn. */
export function call<T>(db: Db, fn: () => T): Promise<T> {
  const t = turns(db);
  if (!t.held || holds(db)) {
    return settle(fn);
  }
  return new Promise<T>((resolve, reject) => {
    t.waiting.push(() => {
      settle(fn).then(resolve, reject);
    });
  });
}

/**
 * The async store over a synchronous implementation: each method becomes a call that waits its
 * turn. Properties that are not functions are copied as they are.
 */
export function serialised<T extends object>(db: Db, impl: Sync<T>): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(impl)) {
    out[name] =
      typeof value === 'function'
        ? (...a: unknown[]) => call(db, () => (value as (...x: unknown[]) => unknown)(...a))
        : value;
  }
  return out as T;
}

/**
 * Runs `fn` after the outermost unit of work on `db` commits, or now when none is open. A store
 * announces its changes (events) through this, so a change made inside a caller's transaction
 * that is then rolled back is never announced.
 */
export function afterCommit(db: Db, fn: () => void): void {
  const queue = pending.get(db);
  if (queue) {
    queue.push(fn);
  } else {
    fn();
  }
}

/**
 * A store's own synchronous transaction (BEGIN IMMEDIATE; a savepoint inside a unit of work):
 * what it queued with `afterCommit` runs after the outermost COMMIT and is dropped on ROLLBACK.
 */
export function storeTransaction<T>(db: Db, fn: () => T): T {
  if (pending.has(db)) {
    return db.transaction(fn)();
  }
  const queue: (() => void)[] = [];
  pending.set(db, queue);
  let result: T;
  try {
    result = db.transaction(fn).immediate();
  } finally {
    pending.delete(db);
  }
  for (const f of queue) {
    f();
  }
  return result;
}

let savepoints = 0;

/** A unit of work nested in one this flow already holds: a savepoint. */
async function nested<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  const name = `uow_${String(++savepoints)}`;
  db.exec(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    db.exec(`RELEASE ${name}`);
    return result;
  } catch (err) {
    db.exec(`ROLLBACK TO ${name}`);
    db.exec(`RELEASE ${name}`);
    throw err;
  }
}

/** The outermost unit of work: this flow holds the connection from BEGIN to COMMIT or ROLLBACK. */
async function outermost<T>(db: Db, t: Turns, fn: () => Promise<T>): Promise<T> {
  const queue: (() => void)[] = [];
  const hold: Hold = { db, open: true };
  let result: T;
  try {
    db.exec('BEGIN IMMEDIATE');
    pending.set(db, queue);
    try {
      result = await holder.run(hold, fn);
      db.exec('COMMIT');
    } catch (err) {
      // A failed COMMIT (SQLITE_FULL) can leave the transaction open: roll it back all the same.
      if (db.inTransaction) {
        db.exec('ROLLBACK');
      }
      throw err;
    } finally {
      pending.delete(db);
    }
  } finally {
    hold.open = false;
    t.held = false;
    handOn(t);
  }
  for (const f of queue) {
    f();
  }
  return result;
}

/** The SQLite unit of work on `db`. */
export function sqliteUnitOfWork(db: Db): UnitOfWork {
  return {
    run<T>(fn: () => Promise<T>): Promise<T> {
      if (holds(db)) {
        return nested(db, fn);
      }
      const t = turns(db);
      if (!t.held) {
        t.held = true;
        return outermost(db, t, fn);
      }
      return new Promise<T>((resolve, reject) => {
        t.waiting.push(() => {
          t.held = true;
          outermost(db, t, fn).then(resolve, reject);
        });
      });
    },
  };
}
