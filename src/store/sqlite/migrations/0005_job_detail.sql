-- What a sink learned about a delivery beyond its outcome (XNAT's receipt URI, the session's
-- prearchive/archive status, instance counts sent and found, XNAT's conflict message), as JSON.
-- Shown in /series/:id; holds no patient data (labels are pseudonyms).
ALTER TABLE jobs ADD COLUMN detail TEXT;
