"use strict";
// One statement: nothing is committed before it waits, so the guard may cancel it.
module.exports = {
  async up(queryInterface) {
    await queryInterface.sequelize.query("ALTER TABLE accounts ADD COLUMN note text");
  },
  async down(queryInterface) {
    await queryInterface.sequelize.query("ALTER TABLE accounts DROP COLUMN note");
  },
};
