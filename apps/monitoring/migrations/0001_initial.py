"""InvariantFinding moves here from apps.applications: state only, the table stays as it is.

The model is created in this app's state over the existing table (``db_table`` keeps its
name), and ``applications.0011`` deletes it from that app's state; no SQL runs either way.
Its content type is relabelled too, so the permissions on it (the Support group's
``view_invariantfinding``) follow the model instead of being created anew without holders.
"""

from django.db import migrations, models


def _relabel(apps, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=new, model="invariantfinding").exists():
        ContentType.objects.filter(app_label=old, model="invariantfinding").update(app_label=new)


def content_type_to_monitoring(apps, schema_editor):
    _relabel(apps, "applications", "monitoring")


def content_type_to_applications(apps, schema_editor):
    _relabel(apps, "monitoring", "applications")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("applications", "0010_support_group"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="InvariantFinding",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("checked_at", models.DateTimeField()),
                        ("kind", models.CharField(max_length=64)),
                        ("count", models.PositiveIntegerField()),
                        ("detail", models.JSONField(blank=True, default=dict)),
                    ],
                    options={
                        "db_table": "applications_invariantfinding",
                        "ordering": ["-checked_at", "kind"],
                        "indexes": [models.Index(fields=["checked_at"], name="invariant_checked_at")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_monitoring, content_type_to_applications),
    ]
