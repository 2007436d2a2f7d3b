-- One fsync on the acknowledgement path (issue 23, ADR 0013): an instance row is committed while its
-- spool file's fsync still runs, marked durable = 0 until that fsync has completed. A batch holding
-- such a row never completes, and start-up reconciliation checks the size and SHA-256 of every such
-- row's file (and drops the row when they do not match) before anything is routed.
ALTER TABLE instances ADD COLUMN durable INTEGER NOT NULL DEFAULT 1 CHECK (durable IN (0, 1));
CREATE INDEX instances_not_durable ON instances (series_id) WHERE durable = 0;
