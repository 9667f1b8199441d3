from django.db import migrations


# audit.probe: the value PGOPTIONS gave the session, if its driver passed PGOPTIONS on.
class Migration(migrations.Migration):
    dependencies = [("shop", "0001_accounts")]
    operations = [
        migrations.RunSQL(
            "CREATE TABLE audit AS SELECT current_setting('matrix.probe', true) AS probe"
        ),
        migrations.RunSQL("ALTER TABLE accounts ADD COLUMN note text"),
    ]
