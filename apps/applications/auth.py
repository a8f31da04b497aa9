"""Who the signed-in user is, and whether they act as support.

The support role is the permission ``applications.act_as_support``, held through the
"Support" group (migration 0010 creates it); superusers hold every permission. Staff
status alone only lets a user into the admin, where their permissions decide the rest.
"""

from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import render

SUPPORT_PERMISSION = "applications.act_as_support"
SUPPORT_GROUP = "Support"


class UserWithProviderBackend(ModelBackend):
    """Every page asks who the user is and which provider they belong to (the navigation,
    the lists' visibility): one query per request instead of three. And whether they are
    support (``is_support``, the navigation), in that same query instead of ModelBackend's
    two permission queries."""

    def get_user(self, user_id):
        user_model = get_user_model()
        app_label, codename = SUPPORT_PERMISSION.split(".")
        support = Permission.objects.filter(
            Q(user=OuterRef("pk")) | Q(group__user=OuterRef("pk")), content_type__app_label=app_label, codename=codename
        )
        try:
            user = (
                user_model._default_manager.select_related("provider_user__provider")
                .annotate(holds_support_permission=Exists(support))
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
