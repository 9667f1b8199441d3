from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.RunSQL("CREATE TABLE accounts (id int PRIMARY KEY)"),
        migrations.RunSQL("INSERT INTO accounts SELECT generate_series(1, 100)"),
    ]
