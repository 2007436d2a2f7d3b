-- The patient each session label was assigned for (issuer and PatientID as in pseudonym_subjects),
-- so a StudyInstanceUID that arrives again under another patient is recognised as a conflict and
-- held, never filed into the other patient's session. Rows made before this migration take the
-- patient of their subject label where the ledger knows it; the others stay NULL (compared by label).
ALTER TABLE pseudonym_sessions ADD COLUMN issuer TEXT;
ALTER TABLE pseudonym_sessions ADD COLUMN patient_id TEXT;
UPDATE pseudonym_sessions SET
  issuer = (SELECT s.issuer FROM pseudonym_subjects s WHERE s.project = pseudonym_sessions.project AND s.label = pseudonym_sessions.subject_label),
  patient_id = (SELECT s.patient_id FROM pseudonym_subjects s WHERE s.project = pseudonym_sessions.project AND s.label = pseudonym_sessions.subject_label);
