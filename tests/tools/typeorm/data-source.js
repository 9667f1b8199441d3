// TypeORM's data source: the database from DATABASE_URL, the migrations beside this file.
const { DataSource } = require("typeorm");

module.exports = new DataSource({
  type: "postgres",
  url: process.env.DATABASE_URL,
  migrations: [`${__dirname}/migrations/*.js`],
});
