-- The anonymise transform's pseudonym ledger, per target project (docs/operations.md "Pseudonym
-- ledger"): original patient → subject label, original study → session label, and every original
-- UID → replacement UID the keyed UID function produced. These tables are what links pseudonymised
-- data in XNAT back to patients, which is why the database file is owner-only (0600) and must be
-- backed up together with <dataDir>/keys.
-- Labels are XNAT-safe ([A-Za-z0-9_-], at most 64 characters: they are also written into PatientID,
-- a DICOM LO). Original identifiers in these tables are never logged above debug.

CREATE TABLE pseudonym_subjects (
  id          INTEGER PRIMARY KEY,
  project     TEXT    NOT NULL,
  issuer      TEXT    NOT NULL DEFAULT '',        -- IssuerOfPatientID (0010,0021); '' when absent
  patient_id  TEXT    NOT NULL,                   -- original PatientID (0010,0020)
  label       TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 64 AND label NOT GLOB '*[^A-Za-z0-9_-]*'),
  source      TEXT    NOT NULL CHECK (source IN ('auto', 'lookup')),
  seq         INTEGER,                            -- sequence number of an 'auto' label; NULL for 'lookup'
  created_at  INTEGER NOT NULL,                   -- when the current label was assigned or imported
  UNIQUE (project, issuer, patient_id),
  UNIQUE (project, label)
) STRICT;

CREATE TABLE pseudonym_sessions (
  id            INTEGER PRIMARY KEY,
  project       TEXT    NOT NULL,
  study_uid     TEXT    NOT NULL,                 -- original StudyInstanceUID
  subject_label TEXT    NOT NULL,                 -- the subject the session was first assigned under
  label         TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 64 AND label NOT GLOB '*[^A-Za-z0-9_-]*'),
  seq           INTEGER NOT NULL,                 -- per-subject sequence number the label was made from
  created_at    INTEGER NOT NULL,
  UNIQUE (project, study_uid),
  UNIQUE (project, label)                         -- XNAT session labels are unique within a project
) STRICT;

-- The next sequence number per (project, kind, scope). A counter rather than max(seq) + 1: a label
-- once handed out went to XNAT, so it must never be handed out again, even after a lookup import
-- relabelled its patient. scope is '' for subjects and the subject label for sessions.
CREATE TABLE pseudonym_counters (
  project   TEXT    NOT NULL,
  kind      TEXT    NOT NULL CHECK (kind IN ('subject', 'session')),
  scope     TEXT    NOT NULL,
  next_seq  INTEGER NOT NULL CHECK (next_seq >= 1),
  PRIMARY KEY (project, kind, scope)
) STRICT, WITHOUT ROWID;

-- original → replacement UID, for the audit and MIDI-style id_old,id_new exports, and so that a
-- reference in output can be checked to resolve to a UID this project produced.
CREATE TABLE uid_map (
  project     TEXT    NOT NULL,
  original    TEXT    NOT NULL,
  replacement TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (project, original)
) STRICT, WITHOUT ROWID;
CREATE INDEX uid_map_replacement ON uid_map (project, replacement);
