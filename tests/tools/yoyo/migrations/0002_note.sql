-- audit, then accounts.note: a schema change first, then an ALTER that may wait for a lock.
-- audit.probe is what PGOPTIONS gave the session (-c matrix.probe=...), if its driver read it.
-- depends: 0001_accounts
CREATE TABLE audit AS SELECT current_setting('matrix.probe', true) AS probe;
ALTER TABLE accounts ADD COLUMN note text;
