-- Watched import folder: one row per drop (top-level folder or loose file) and one per file handled.
-- The file rows are the drop's progress ledger: after a crash, files already handled (same size and
-- mtime) are not read again, and the drop is released only once every file has a row.

CREATE TABLE folder_drops (
  id             INTEGER PRIMARY KEY,
  root           TEXT    NOT NULL,                   -- import folder the drop was found in
  name           TEXT    NOT NULL,                   -- top-level entry name (may identify a patient: debug logs only)
  kind           TEXT    NOT NULL CHECK (kind IN ('folder', 'file')),
  state          TEXT    NOT NULL CHECK (state IN ('reading', 'releasing', 'released', 'vanished')),
  files_total    INTEGER NOT NULL DEFAULT 0,         -- files in the drop when it was read
  files_spooled  INTEGER NOT NULL DEFAULT 0,         -- stored, replaced or already held
  files_rejected INTEGER NOT NULL DEFAULT 0,
  files_ignored  INTEGER NOT NULL DEFAULT 0,         -- DICOMDIR, marker and OS files
  association_uid TEXT,                              -- kept open until release, so the drop's series wait for all of it
  started_at     INTEGER NOT NULL,
  released_at    INTEGER,
  disposition    TEXT,                               -- 'move:<dir>' or 'delete', fixed when release starts
  rejected_to    TEXT                                -- folder receiving rejected files and rejected.json
) STRICT;
CREATE UNIQUE INDEX folder_drops_active ON folder_drops (root, name) WHERE state IN ('reading', 'releasing');

CREATE TABLE folder_files (
  drop_id     INTEGER NOT NULL REFERENCES folder_drops (id),
  rel_path    TEXT    NOT NULL,
  size        INTEGER NOT NULL,
  mtime_ms    INTEGER NOT NULL,
  outcome     TEXT    NOT NULL CHECK (outcome IN ('stored', 'duplicate', 'replaced', 'rejected', 'ignored')),
  instance_id INTEGER REFERENCES instances (id),
  code        TEXT,
  reason      TEXT,
  at          INTEGER NOT NULL,
  PRIMARY KEY (drop_id, rel_path)
) STRICT, WITHOUT ROWID;
