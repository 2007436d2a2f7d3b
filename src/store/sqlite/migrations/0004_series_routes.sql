-- The quarantine protocol's decisions (docs/routing.md): one row per series batch, written by the
-- router before any delivery job exists, so "where does this series go, and why" survives restarts
-- and shows in /series/:id. Reasons are rule ids, messages and non-identifying values only.

CREATE TABLE series_routes (
  series_id         INTEGER PRIMARY KEY REFERENCES series (id),
  -- waiting: an RT object held until its referenced images are routed (or wait_until passes)
  state             TEXT    NOT NULL CHECK (state IN ('waiting', 'routed')),
  target            TEXT    NOT NULL CHECK (target IN ('hospital', 'quarantine')),
  project           TEXT    NOT NULL,
  reasons           TEXT    NOT NULL DEFAULT '[]',  -- JSON array of RouteReason
  rules_hash        TEXT    NOT NULL,               -- sha256 of the rules that decided
  rt_refs           TEXT,                           -- JSON RtReferences of an RT object
  wait_until        INTEGER,                        -- waiting: when it goes to quarantine instead
  group_series_id   INTEGER REFERENCES series (id), -- the series it was routed with (RT → its images)
  session_study_uid TEXT,                           -- the study whose XNAT session it joins
  decided_at        INTEGER NOT NULL,
  routed_at         INTEGER,
  released_at       INTEGER,
  released_by       TEXT
) STRICT;
CREATE INDEX series_routes_waiting ON series_routes (wait_until) WHERE state = 'waiting';
CREATE INDEX series_routes_group ON series_routes (group_series_id) WHERE group_series_id IS NOT NULL;
CREATE INDEX series_series_uid ON series (series_uid);

-- An RT object's deliveries wait until its images' delivery to the same sink has finished
-- ("images first"): the claim skips a job whose after_series_id still has a queued or running job.
ALTER TABLE jobs ADD COLUMN after_series_id INTEGER REFERENCES series (id);
