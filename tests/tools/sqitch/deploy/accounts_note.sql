BEGIN;
CREATE TABLE gadgets AS SELECT current_setting('matrix.probe', true) AS probe;
ALTER TABLE accounts ADD COLUMN note text;
COMMIT;
