-- migrate:up
CREATE TABLE widgets (id int PRIMARY KEY);

-- migrate:down
DROP TABLE widgets;
