"""Indexes for the list pages at a million applications (see Application.Meta for each one's use).

The new indexes are built before the old ones are dropped: a DROP INDEX locks the table
against reads until the migration commits, so it comes last. Search (PostgreSQL only):
pg_trgm GIN indexes on the expressions Django's ``icontains``/``iexact`` compare,
``UPPER(column::text)``, so a search finds its candidates and courses through an index.
"""

import django.db.models.deletion
from django.db import migrations, models

#: The index Django made for the provider foreign key (0004), by its generated name.
PROVIDER_KEY_INDEX = "applications_application_provider_id_c3546c76"
TRIGRAM_INDEXES = {
    "auth_user_username_trgm": ("auth_user", "username"),
    "auth_user_email_trgm": ("auth_user", "email"),
    "course_name_trgm": ("applications_course", "name"),
    "course_code_trgm": ("applications_course", "code"),
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite searches by scanning: it is for development and tests.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ("applications", "0005_sweep_keyset_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="application",
            index=models.Index(fields=["deadline_at", "id"], name="application_deadline"),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(fields=["state", "id"], name="application_state"),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(
                condition=models.Q(("state__in", ["awaiting_provider_decision", "interviewing", "offer"])),
                fields=["state", "deadline_at", "id"],
                name="application_state_deadline",
            ),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(fields=["provider", "id"], include=["state"], name="application_provider"),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(
                condition=models.Q(("state", "unsubmitted"), _negated=True),
                fields=["provider", "deadline_at", "id"],
                name="application_provider_deadline",
            ),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(
                condition=models.Q(("state", "unsubmitted"), _negated=True),
                fields=["provider", "state", "id"],
                name="application_provider_state",
            ),
        ),
        migrations.AddIndex(
            model_name="application",
            index=models.Index(
                condition=models.Q(("state__in", ["awaiting_provider_decision", "interviewing", "offer"])),
                fields=["provider", "state", "deadline_at", "id"],
                name="application_provider_live",
            ),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
        # No list reads by (course, state) or (state, reject_by_default_at) any more.
        migrations.RemoveIndex(model_name="application", name="application_course_state"),
        migrations.RemoveIndex(model_name="application", name="application_state_rbd"),
        # application_provider (provider, id) serves provider_id lookups: the key's own index goes.
        # Only the index: AlterField would also drop and re-add the foreign key, checking every row.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="application",
                    name="provider",
                    field=models.ForeignKey(
                        db_index=False,
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="applications",
                        to="applications.provider",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {PROVIDER_KEY_INDEX}",
                    f"CREATE INDEX {PROVIDER_KEY_INDEX} ON applications_application (provider_id)",
                ),
            ],
        ),
    ]
