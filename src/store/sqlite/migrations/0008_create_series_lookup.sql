-- Find by patient or accession number without holding either in clear (docs/console.md "Find"):
-- a keyed hash (HMAC-SHA256 under the lookup key, <keysDir>/find-lookup.secret, mode 0600) of each
-- PatientID and AccessionNumber seen in a series batch, written with the instance row at ingest.
-- An administrator's query is hashed the same way and matched here. Without the key the digests
-- cannot be tested against a list of candidate IDs.

CREATE TABLE series_lookup (
  series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
  kind      TEXT    NOT NULL CHECK (kind IN ('patient', 'accession')),
  digest    BLOB    NOT NULL CHECK (length(digest) = 32),
  PRIMARY KEY (kind, digest, series_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX series_lookup_series ON series_lookup (series_id);

-- The console's series list filters by time and modality; its project/route filters use series_routes.
CREATE INDEX series_first_instance ON series (first_instance_at);
