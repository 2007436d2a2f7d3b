-- Any registered source may record associations and instances (issue 22, the STOW-RS source):
-- the source id is checked in code against the known sources, no longer by a CHECK listing them.
-- SQLite cannot drop a CHECK in place, so both tables are rebuilt with their data, ids, indexes
-- and foreign keys. The daemon runs migrations with foreign_keys=ON inside a transaction, where
-- the pragma cannot be switched off; instead the checks are deferred to COMMIT: dropping a parent
-- table counts the child rows it leaves dangling, and inserting the same rows into its rebuilt
-- successor counts them satisfied again, so COMMIT finds every reference whole. Temporary indexes
-- on the child columns keep that bookkeeping an index lookup per row instead of a table scan.
PRAGMA defer_foreign_keys = ON;

CREATE INDEX tmp_0009_events_association ON events (association_id);
CREATE INDEX tmp_0009_events_instance ON events (instance_id);
CREATE INDEX tmp_0009_folder_files_instance ON folder_files (instance_id);

CREATE TEMP TABLE copy_0009_associations AS SELECT * FROM associations;
CREATE TEMP TABLE copy_0009_instances AS SELECT * FROM instances;
DROP TABLE instances;
DROP TABLE associations;

CREATE TABLE associations (
  id          INTEGER PRIMARY KEY,
  uid         TEXT    NOT NULL UNIQUE,           -- shown in logs and /series timelines
  source      TEXT    NOT NULL,                  -- a source id: dimse, folder, stow (checked in code)
  calling_ae  TEXT    NOT NULL,                  -- stow: the bearer token's name
  called_ae   TEXT    NOT NULL,
  peer_ip     TEXT    NOT NULL,
  opened_at   INTEGER NOT NULL,
  closed_at   INTEGER,                           -- NULL while open: blocks series completion
  outcome     TEXT    CHECK (outcome IN ('released', 'aborted', 'dropped', 'interrupted')),
  instances   INTEGER NOT NULL DEFAULT 0,
  bytes       INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO associations (id, uid, source, calling_ae, called_ae, peer_ip, opened_at, closed_at, outcome, instances, bytes)
  SELECT id, uid, source, calling_ae, called_ae, peer_ip, opened_at, closed_at, outcome, instances, bytes FROM copy_0009_associations;
CREATE INDEX associations_open ON associations (id) WHERE closed_at IS NULL;

CREATE TABLE instances (
  id                  INTEGER PRIMARY KEY,
  series_id           INTEGER NOT NULL REFERENCES series (id),
  sop_instance_uid    TEXT    NOT NULL,
  sop_class_uid       TEXT    NOT NULL,
  transfer_syntax_uid TEXT    NOT NULL,
  instance_number     INTEGER,
  path                TEXT    NOT NULL,          -- relative to <dataDir>/spool
  size                INTEGER NOT NULL,          -- bytes of the Part 10 file
  dataset_sha256      TEXT    NOT NULL,          -- of the dataset bytes as received (dedupe key)
  source              TEXT    NOT NULL,          -- a source id: dimse, folder, stow (checked in code)
  association_id      INTEGER REFERENCES associations (id),
  calling_ae          TEXT    NOT NULL,
  called_ae           TEXT    NOT NULL,
  peer_ip             TEXT    NOT NULL,
  origin              TEXT,                      -- folder source: drop name / relative path
  received_at         INTEGER NOT NULL,
  UNIQUE (series_id, sop_instance_uid)
) STRICT;
INSERT INTO instances (id, series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, path, size,
                       dataset_sha256, source, association_id, calling_ae, called_ae, peer_ip, origin, received_at)
  SELECT id, series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, path, size,
         dataset_sha256, source, association_id, calling_ae, called_ae, peer_ip, origin, received_at FROM copy_0009_instances;
CREATE INDEX instances_sop ON instances (sop_instance_uid);

DROP TABLE copy_0009_associations;
DROP TABLE copy_0009_instances;
DROP INDEX tmp_0009_events_association;
DROP INDEX tmp_0009_events_instance;
DROP INDEX tmp_0009_folder_files_instance;
