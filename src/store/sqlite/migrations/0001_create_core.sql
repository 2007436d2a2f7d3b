-- Core schema: associations, series (with batches), instances, delivery jobs, attempts, audit events.
-- Timestamps are epoch milliseconds. States are CHECK-constrained text enums.

CREATE TABLE associations (
  id          INTEGER PRIMARY KEY,
  uid         TEXT    NOT NULL UNIQUE,           -- shown in logs and /series timelines
  source      TEXT    NOT NULL CHECK (source IN ('dimse', 'folder')),
  calling_ae  TEXT    NOT NULL,
  called_ae   TEXT    NOT NULL,
  peer_ip     TEXT    NOT NULL,
  opened_at   INTEGER NOT NULL,
  closed_at   INTEGER,                           -- NULL while open: blocks series completion
  outcome     TEXT    CHECK (outcome IN ('released', 'aborted', 'dropped', 'interrupted')),
  instances   INTEGER NOT NULL DEFAULT 0,
  bytes       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX associations_open ON associations (id) WHERE closed_at IS NULL;

CREATE TABLE series (
  id                INTEGER PRIMARY KEY,
  study_uid         TEXT    NOT NULL,
  series_uid        TEXT    NOT NULL,
  batch             INTEGER NOT NULL DEFAULT 1,  -- >1: instances that arrived after completion
  state             TEXT    NOT NULL DEFAULT 'receiving'
                    CHECK (state IN ('receiving', 'complete', 'delivered', 'failed')),
  modality          TEXT,
  instance_count    INTEGER NOT NULL DEFAULT 0,
  byte_count        INTEGER NOT NULL DEFAULT 0,
  first_instance_at INTEGER NOT NULL,
  last_instance_at  INTEGER NOT NULL,
  completed_at      INTEGER,
  delivered_at      INTEGER,
  UNIQUE (study_uid, series_uid, batch)
) STRICT;
CREATE INDEX series_receiving ON series (last_instance_at) WHERE state = 'receiving';
CREATE INDEX series_state ON series (state, id);

-- Which associations sent to which series batch: an open one keeps the batch receiving.
CREATE TABLE series_associations (
  series_id      INTEGER NOT NULL REFERENCES series (id),
  association_id INTEGER NOT NULL REFERENCES associations (id),
  PRIMARY KEY (series_id, association_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX series_associations_assoc ON series_associations (association_id);

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
  source              TEXT    NOT NULL CHECK (source IN ('dimse', 'folder')),
  association_id      INTEGER REFERENCES associations (id),
  calling_ae          TEXT    NOT NULL,
  called_ae           TEXT    NOT NULL,
  peer_ip             TEXT    NOT NULL,
  origin              TEXT,                      -- folder source: drop name / relative path
  received_at         INTEGER NOT NULL,
  UNIQUE (series_id, sop_instance_uid)
) STRICT;
CREATE INDEX instances_sop ON instances (sop_instance_uid);

CREATE TABLE jobs (
  id           INTEGER PRIMARY KEY,
  kind         TEXT    NOT NULL CHECK (kind IN ('deliver')),
  series_id    INTEGER NOT NULL REFERENCES series (id),
  sink         TEXT    NOT NULL,                 -- sink id, one job per (series batch, sink)
  payload      TEXT    NOT NULL DEFAULT '{}',    -- JSON, validated on lease
  state        TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at       INTEGER NOT NULL,
  lease_token  TEXT,
  lease_until  INTEGER,
  last_error   TEXT,
  last_code    TEXT,
  last_stage   TEXT,
  receipt      TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  UNIQUE (kind, series_id, sink)
) STRICT;
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';

CREATE TABLE job_attempts (
  id          INTEGER PRIMARY KEY,
  job_id      INTEGER NOT NULL REFERENCES jobs (id),
  attempt     INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,
  outcome     TEXT CHECK (outcome IN ('delivered', 'retry', 'rejected', 'error', 'lease-expired')),
  code        TEXT,
  error       TEXT
) STRICT;
CREATE INDEX job_attempts_job ON job_attempts (job_id, attempt);

-- Audit trail: who sent what, when; replacements, late arrivals, requeues. No PHI in detail.
CREATE TABLE events (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  kind           TEXT    NOT NULL,
  series_id      INTEGER REFERENCES series (id),
  instance_id    INTEGER REFERENCES instances (id),
  association_id INTEGER REFERENCES associations (id),
  detail         TEXT    NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX events_series ON events (series_id, id);
