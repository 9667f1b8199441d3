-- accounts: the table the next migration ALTERs, already there when the tests begin.
CREATE TABLE accounts (id int PRIMARY KEY);
INSERT INTO accounts SELECT generate_series(1, 100);
