exports.up = (knex) => knex.raw("CREATE TABLE widgets (id int PRIMARY KEY)");
exports.down = (knex) => knex.raw("DROP TABLE widgets");
