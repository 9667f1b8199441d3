// The deployed migration: a table first (it records the session's matrix.probe setting, which
// PGOPTIONS sets), then the ALTER that waits behind the test's long transaction.
exports.up = async (knex) => {
  await knex.raw("CREATE TABLE gadgets AS SELECT current_setting('matrix.probe', true) AS probe");
  await knex.raw("ALTER TABLE accounts ADD COLUMN note text");
};
exports.down = async (knex) => {
  await knex.raw("ALTER TABLE accounts DROP COLUMN note");
  await knex.raw("DROP TABLE gadgets");
};
