//! The store side of the unit of work (the contract is src/contracts/unit-of-work.ts).
export type { UnitOfWork } from '../contracts/unit-of-work.ts';

/**
 * The synchronous form of an async store interface: what an implementation on a synchronous
 * driver (better-sqlite3) writes, before `serialised` (sqlite/turns.ts) puts it behind promises.
 */
export type Sync<T> = {
  [K in keyof T]: T[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : T[K];
};
