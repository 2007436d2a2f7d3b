-- Pulls from a PACS by list (issue 24): the pull, its rows (one per list line) and the series
-- each resolved study was counted to have. Accession numbers, patient IDs, dates and candidates
-- are patient data: they are set to NULL when the pull's retention ends (purged_at).
CREATE TABLE pulls (
  id            INTEGER PRIMARY KEY,
  uid           TEXT    NOT NULL UNIQUE,                 -- public id (API, console, CLI)
  pacs          TEXT    NOT NULL,                        -- pacs[].name in config
  project       TEXT,                                    -- default XNAT project of its rows
  file_name     TEXT,                                    -- as uploaded; may name a patient: purged
  state         TEXT    NOT NULL CHECK (state IN ('active', 'paused', 'cancelled', 'ended')),
  pause_reason  TEXT,
  notes         TEXT    NOT NULL DEFAULT '[]',           -- JSON: remarks about the list (ignored columns)
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  ended_at      INTEGER,                                 -- every row settled, or cancelled
  purge_at      INTEGER,                                 -- ended_at + retention
  purged_at     INTEGER
) STRICT;

CREATE TABLE pull_rows (
  id                  INTEGER PRIMARY KEY,
  pull_id             INTEGER NOT NULL REFERENCES pulls (id) ON DELETE CASCADE,
  line                INTEGER NOT NULL,                  -- line (CSV) or row (XLSX) in the file
  state               TEXT    NOT NULL CHECK (state IN ('pending', 'queued', 'retrieving', 'invalid', 'duplicate', 'not-found',
                        'ambiguous', 'failed', 'partial', 'complete', 'delivered', 'verified', 'cancelled')),
  accession_number    TEXT,                              -- PHI
  patient_id          TEXT,                              -- PHI
  study_date_from     TEXT,                              -- PHI (DA)
  study_date_to       TEXT,                              -- PHI (DA)
  project             TEXT,
  subject_label       TEXT,
  session_label       TEXT,
  notes               TEXT    NOT NULL DEFAULT '[]',     -- JSON: normalisations applied
  reason              TEXT,                              -- why invalid / not-found / failed / partial
  duplicate_of        INTEGER,                           -- line of the earlier row
  chosen_study_uid    TEXT,                              -- set when a person resolved an ambiguous row
  study_uid           TEXT,
  candidates          TEXT,                              -- JSON, PHI: the studies an ambiguous row matched
  expected_instances  INTEGER,
  received_instances  INTEGER NOT NULL DEFAULT 0,
  attempts            INTEGER NOT NULL DEFAULT 0,        -- of the current step (query or retrieve)
  next_attempt_at     INTEGER,
  last_code           TEXT,
  last_error          TEXT,
  retrieve_status     INTEGER,                           -- last C-MOVE/C-GET final status and sub-operation counts
  retrieve_completed  INTEGER,
  retrieve_failed     INTEGER,
  retrieve_warning    INTEGER,
  xnat_session        TEXT,
  xnat_url            TEXT,
  updated_at          INTEGER NOT NULL,
  finished_at         INTEGER,
  UNIQUE (pull_id, line)
) STRICT;

CREATE INDEX pull_rows_due ON pull_rows (next_attempt_at) WHERE state IN ('pending', 'queued');
CREATE INDEX pull_rows_study ON pull_rows (study_uid) WHERE study_uid IS NOT NULL;

CREATE TABLE pull_series (
  row_id      INTEGER NOT NULL REFERENCES pull_rows (id) ON DELETE CASCADE,
  series_uid  TEXT    NOT NULL,
  modality    TEXT,
  number      TEXT,
  expected    INTEGER,                                   -- NULL: the PACS could not count it
  received    INTEGER NOT NULL DEFAULT 0,
  delivered   INTEGER,
  verified    INTEGER,
  PRIMARY KEY (row_id, series_uid)
) STRICT, WITHOUT ROWID;

-- What happened to a row, in order: each query and retrieve attempt with its outcome (no PHI).
CREATE TABLE pull_events (
  id       INTEGER PRIMARY KEY,
  row_id   INTEGER NOT NULL REFERENCES pull_rows (id) ON DELETE CASCADE,
  at       INTEGER NOT NULL,
  kind     TEXT    NOT NULL,
  detail   TEXT    NOT NULL DEFAULT '{}'                 -- JSON
) STRICT;

CREATE INDEX pull_events_row ON pull_events (row_id, id);
