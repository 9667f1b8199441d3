-- accounts: the table the next script ALTERs; schema_version: the scripts' own record.
CREATE TABLE schema_version (version text PRIMARY KEY);
CREATE TABLE accounts (id int PRIMARY KEY);
INSERT INTO accounts SELECT generate_series(1, 100);
INSERT INTO schema_version VALUES ('0001');
