//! The stores' unit of work: several store calls committed together, or not at all.
// Every store interface is asynchronous, so an implementation may sit on a database server
// (PostgreSQL, one shared by several gateways) as well as on the embedded SQLite file. A caller that
// needs two stores to change together runs them in one unit of work; what the stores announce
// (events) goes out only after its outermost COMMIT. On the bottom floor because components (the
// anonymise transform's pseudonym ledger) are lent one by the composition root.

export interface UnitOfWork {
  /**
   * Runs `fn` in one transaction: its store calls commit together when it resolves and roll back
   * when it throws (the error is rethrown). Nested units become savepoints of the outer one. While
   * it is open no other caller's store call reaches the same connection: they wait their turn.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
}
