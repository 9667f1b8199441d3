-- audit, then accounts.note: a schema change first, then an ALTER that may wait for a lock.
-- audit.probe is what PGOPTIONS gave the session (-c matrix.probe=...); psql is libpq's.
CREATE TABLE audit AS SELECT current_setting('matrix.probe', true) AS probe;
ALTER TABLE accounts ADD COLUMN note text;
INSERT INTO schema_version VALUES ('0002');
