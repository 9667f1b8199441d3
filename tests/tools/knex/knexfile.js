// knex's configuration: the database from DATABASE_URL, as in a container.
module.exports = {
  client: "pg",
  connection: process.env.DATABASE_URL,
  migrations: { directory: "./migrations" },
};
