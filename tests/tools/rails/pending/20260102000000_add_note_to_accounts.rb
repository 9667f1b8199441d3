class AddNoteToAccounts < ActiveRecord::Migration[6.1]
  def up
    execute "CREATE TABLE gadgets AS SELECT current_setting('matrix.probe', true) AS probe"
    add_column :accounts, :note, :text
  end

  def down
    remove_column :accounts, :note
    drop_table :gadgets
  end
end
