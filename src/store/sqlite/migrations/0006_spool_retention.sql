-- What became of a series batch's original spool files (docs/operations.md "Freeing space").
-- No row: the originals are held, because the batch is still receiving, waiting, quarantined,
-- failed or not yet delivered (a release or requeue de-identifies it again from them). A row is
-- written when they stop being needed: removed once the batch was delivered and verified in its
-- final project (spool.retainDelivered: 0), retained as a local copy (retainDelivered keep, until
-- its size or age cap removes them), or discarded by an administrator with a reason (audited).
-- The instance rows stay: they are the audit, and they recognise a re-sent instance as a duplicate.

CREATE TABLE spool_originals (
  series_id      INTEGER PRIMARY KEY REFERENCES series (id),
  state          TEXT    NOT NULL CHECK (state IN ('retained', 'removed', 'discarded')),
  -- removed: delivered | retention-cap | retention-age | disk-space; retained: delivered;
  -- discarded: the administrator's reason
  reason         TEXT    NOT NULL,
  by             TEXT,                                           -- discarded: who (token name, CLI user)
  files          INTEGER NOT NULL,
  bytes          INTEGER NOT NULL,
  at             INTEGER NOT NULL,                               -- when it entered this state
  pending_delete INTEGER NOT NULL DEFAULT 0 CHECK (pending_delete IN (0, 1)) -- 1 until the files are gone (a crash in between finishes at start-up)
) STRICT;
CREATE INDEX spool_originals_retained ON spool_originals (at) WHERE state = 'retained';
CREATE INDEX spool_originals_pending ON spool_originals (series_id) WHERE pending_delete = 1;
