module.exports = class AccountsNote1767312000000 {
  async up(queryRunner) {
    await queryRunner.query("CREATE TABLE gadgets AS SELECT current_setting('matrix.probe', true) AS probe");
    await queryRunner.query("ALTER TABLE accounts ADD COLUMN note text");
  }
  async down(queryRunner) {
    await queryRunner.query("ALTER TABLE accounts DROP COLUMN note");
    await queryRunner.query("DROP TABLE gadgets");
  }
};
