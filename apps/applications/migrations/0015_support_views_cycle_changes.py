"""The Support group sees each cycle's audit trail (cycle changes) and the rule sets.

Both are read-only in the admin (written by the timetable services and by migrations): view
is all there is to hold. Written out, as 0010 does: a migration records what it did.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
CODENAMES = ["view_cyclechange", "view_ruleset"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("applications")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    found = list(Permission.objects.filter(content_type__app_label="applications", codename__in=CODENAMES))
    if len(found) != len(CODENAMES):
        raise RuntimeError(f"Permissions not found for the Support group: {CODENAMES}")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*found)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name=GROUP):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="applications", codename__in=CODENAMES))


class Migration(migrations.Migration):
    dependencies = [("applications", "0014_cycle_timetables"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(grant, revoke)]
