"use strict";
// sequelize-cli runs no transaction per migration: the CREATE TABLE commits on its own before
// the ALTER waits. A cancel there would leave the migration half-applied and unrecorded.
module.exports = {
  async up(queryInterface) {
    await queryInterface.sequelize.query("CREATE TABLE gadgets AS SELECT current_setting('matrix.probe', true) AS probe");
    await queryInterface.sequelize.query("ALTER TABLE accounts ADD COLUMN note text");
  },
  async down(queryInterface) {
    await queryInterface.sequelize.query("ALTER TABLE accounts DROP COLUMN note");
    await queryInterface.sequelize.query("DROP TABLE gadgets");
  },
};
