//! Association (and folder-drop) rows: open ones keep their series receiving.
import type { AssociationStore } from '../associations.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import { randomUUID } from 'node:crypto';
import type { Db } from './db.ts';
import type { SourceId } from '../../events.ts';

/** `node`: this gateway's node id (src/app/node-id.ts), recorded on each association it opens. */
export function associationStoreSync(db: Db, node: string | null = null): Sync<AssociationStore> {
  const insert = db.prepare(
    `INSERT INTO associations (uid, source, calling_ae, called_ae, peer_ip, opened_at, node)
     VALUES (@uid, @source, @callingAe, @calledAe, @peerIp, @at, @node) RETURNING id`,
  );
  const close = db.prepare(
    `UPDATE associations SET closed_at = @at, outcome = @outcome WHERE uid = @uid AND closed_at IS NULL
     RETURNING source, opened_at AS openedAt, instances, bytes`,
  );
  const byUid = db.prepare(`SELECT id FROM associations WHERE uid = ?`).pluck();
  const openCount = db.prepare(`SELECT count(*) FROM associations WHERE closed_at IS NULL`).pluck();
  // Each write with RETURNING runs in its own transaction: in autocommit mode SQLite commits when
  // `.get()` resets the statement, and better-sqlite3 (13.2) ignores that reset's result, so a
  // commit refused with SQLITE_FULL would return the row as if written and lose the change
  // silently (an association left open for ever). The transaction's COMMIT throws instead.
  const opened = db.transaction(
    (a: Parameters<AssociationStore['open']>[0], uid: string) => insert.get({ ...a, uid, node }) as { id: number },
  );
  const closed = db.transaction(
    (uid: string, outcome: string, at: number) =>
      close.get({ uid, outcome, at }) as
        { source: SourceId; openedAt: number; instances: number; bytes: number } | undefined,
  );
  const ids = new Map<string, number>();
  return {
    open(a) {
      const uid = randomUUID();
      const { id } = opened(a, uid);
      ids.set(uid, id);
      return { id, uid };
    },
    close(uid, outcome, at) {
      const row = closed(uid, outcome, at);
      ids.delete(uid);
      return row ?? null;
    },
    idOf(uid) {
      return ids.get(uid) ?? (byUid.get(uid) as number | undefined);
    },
    openCount: () => openCount.get() as number,
  };
}

/** The async AssociationStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createAssociationStore(db: Db, node: string | null = null): AssociationStore {
  return serialised<AssociationStore>(db, associationStoreSync(db, node));
}
