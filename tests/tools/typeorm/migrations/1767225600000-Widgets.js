module.exports = class Widgets1767225600000 {
  async up(queryRunner) {
    await queryRunner.query("CREATE TABLE widgets (id int PRIMARY KEY)");
  }
  async down(queryRunner) {
    await queryRunner.query("DROP TABLE widgets");
  }
};
