"""InvariantFinding now belongs to apps.monitoring (monitoring.0001): state only, no SQL."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0010_support_group"),
        ("monitoring", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="InvariantFinding")],
            database_operations=[],
        ),
    ]
