class CreateWidgets < ActiveRecord::Migration[6.1]
  def up
    execute "CREATE TABLE widgets (id int PRIMARY KEY)"
  end

  def down
    execute "DROP TABLE widgets"
  end
end
