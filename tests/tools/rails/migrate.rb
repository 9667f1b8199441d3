# ActiveRecord's migrations without a Rails app: what `rails db:migrate` does, on DATABASE_URL.
require "active_record"

ActiveRecord::Base.establish_connection(ENV.fetch("DATABASE_URL"))
ActiveRecord::Migration.verbose = true
migrations = File.join(__dir__, "db", "migrate")
ActiveRecord::MigrationContext.new(migrations, ActiveRecord::SchemaMigration).migrate
