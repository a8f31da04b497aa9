"""Who the signed-in user is, and whether they act as support.

The support role is the permission ``applications.act_as_support``, held through the
"Support" group (migration 0010 creates it); superusers hold every permission. Staff
status alone only lets a user into the admin, where their permissions decide the rest.
"""

from functools import cache, wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.shortcuts import render

SUPPORT_PERMISSION = "applications.act_as_support"
SUPPORT_GROUP = "Support"


@cache
def _holds_support_permission() -> RawSQL:
    """Whether the user row holds SUPPORT_PERMISSION, directly or through a group, as SQL.

    Written out rather than built from ``Permission.objects.filter(...)`` inside ``Exists``:
    building and compiling that subquery on every request cost 1.1 ms of the 1.7 ms the user's
    query took (measured at a million applications); this string is the same question, a
    constant, built once. ``tests/apps/applications/test_support_role.py`` checks it against
    ``has_perm`` for every way of holding it.
    """
    app_label, codename = SUPPORT_PERMISSION.split(".")
    user_model = get_user_model()
    meta, permission = user_model._meta, Permission._meta
    table, pk = meta.db_table, meta.pk.column
    user_permissions = meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = meta.get_field("groups").remote_field.through._meta.db_table
    group_permissions = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    content_type = ContentType._meta.db_table
    permission_id = (
        f"SELECT p.id FROM {permission.db_table} p JOIN {content_type} ct ON ct.id = p.content_type_id "
        "WHERE ct.app_label = %s AND p.codename = %s"
    )
    sql = (
        f"(EXISTS (SELECT 1 FROM {user_permissions} up WHERE up.user_id = {table}.{pk} "
        f"AND up.permission_id IN ({permission_id})) "
        f"OR EXISTS (SELECT 1 FROM {user_groups} ug JOIN {group_permissions} gp ON gp.group_id = ug.group_id "
        f"WHERE ug.user_id = {table}.{pk} AND gp.permission_id IN ({permission_id})))"
    )
    return RawSQL(sql, (app_label, codename, app_label, codename), output_field=BooleanField())


class UserWithProviderBackend(ModelBackend):
    """Every page asks who the user is and which provider they belong to (the navigation,
    the lists' visibility): one query per request instead of three. And whether they are
    support (``is_support``, the navigation), in that same query instead of ModelBackend's
    two permission queries."""

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = (
                user_model._default_manager.select_related("provider_user__provider")
                .annotate(holds_support_permission=_holds_support_permission())
                .get(pk=user_id)
            )
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


def is_support(user) -> bool:
    """Sees every application, acts for any provider, uses the Schedule, Health and jobs dashboard.

    The signed-in user of a request carries the answer (``UserWithProviderBackend.get_user``
    reads it with the user, in the same query); any other user object asks its permissions."""
    held = getattr(user, "holds_support_permission", None)
    if held is not None:
        return user.is_active and (held or user.is_superuser)
    return user.has_perm(SUPPORT_PERMISSION)


def support_required(view):
    """Support only: anonymous users are sent to sign in, everyone else gets 403 and nothing changes."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not is_support(request.user):
            return render(request, "applications/support_only.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped
