"""The "Support" group: the support role, and what support does in the admin.

Permissions are written out here, not read from the code: a migration is a record of what
it did. What the group holds, and why:

- applications.act_as_support: the role itself (every application, acting for any provider,
  Schedule, Health, jobs dashboard).
- view on every domain and outbox model: support answers "what happened to application N"
  from the admin (timeline events, chasers, invariant findings, emails).
- change application: correct a candidate, course or cycle entered wrongly (the state
  machine's fields are read-only in the admin; transitions go through the services).
- change recruitment cycle, add/change/delete non-working period: a closure such as
  Christmas is entered in the admin, and saving it recalculates the live deadlines.
- axes: view access attempts and logs, delete access attempts: deleting a locked-out
  user's attempt is how support unlocks them.

Not held: users, groups and permissions (support could otherwise make itself a superuser
or hand out the role; that stays with superusers), deleting domain rows, and changing
providers or courses (reference data, kept by superusers).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = {
    "applications": [
        "act_as_support",
        "view_provider",
        "view_provideruser",
        "view_course",
        "view_recruitmentcycle",
        "change_recruitmentcycle",
        "view_nonworkingperiod",
        "add_nonworkingperiod",
        "change_nonworkingperiod",
        "delete_nonworkingperiod",
        "view_application",
        "change_application",
        "view_applicationevent",
        "view_chasersent",
        "view_invariantfinding",
    ],
    "outbox": ["view_outboxemail"],
    "axes": ["view_accessattempt", "delete_accessattempt", "view_accesslog", "view_accessfailurelog"],
}


def create_support_group(apps, schema_editor):
    # Permissions are otherwise created after the last migration (post_migrate): make
    # them now, on a fresh database, for the apps whose permissions the group holds.
    for label in PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for label, codenames in PERMISSIONS.items():
        found = list(Permission.objects.filter(content_type__app_label=label, codename__in=codenames))
        missing = set(codenames) - {permission.codename for permission in found}
        if missing:
            raise RuntimeError(f"Permissions not found for the Support group: {label} {sorted(missing)}")
        group.permissions.add(*found)


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0009_support_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("outbox", "0005_sweep_index_without_status"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.RunPython(create_support_group, delete_support_group),
    ]
