"""The support role is the permission applications.act_as_support (the "Support" group),
not staff status: staff without it get 403 on the support pages and act as nobody else."""

from datetime import UTC, datetime
from io import StringIO

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.applications.auth import SUPPORT_GROUP, is_support
from apps.applications.models import Application, ApplicationState
from apps.core.redis import redis_connection
from apps.scheduling.runner import Clock
from apps.scheduling.timetable import Entry
from tests.factories import make_application, make_course, make_provider_user, make_support_user, make_user

pytestmark = pytest.mark.django_db
S = ApplicationState
ENTRY = Entry("every_minute", "* * * * *", "Europe/London", "jobs.maintenance.sessions_clear_expired", "sweeps",
              "test entry")
SUPPORT_PAGES = ["/schedule/", "/support/health/", "/django-rq/"]


@pytest.fixture(autouse=True)
def registered():
    """A clock entry on the Schedule page, so "run now" has something to enqueue."""
    Clock([ENTRY], redis_connection(), now=lambda: datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)).run_once()


@pytest.fixture
def staff():
    """Staff status, no permissions: may sign in to the admin, and no more."""
    return make_user(is_staff=True)


def state_of(application) -> str:
    return Application.objects.values_list("state", flat=True).get(pk=application.pk)


def test_staff_without_the_role_gets_403_on_support_pages(client, staff):
    client.force_login(staff)
    for url in SUPPORT_PAGES:
        assert client.get(url).status_code == 403, url
    assert client.post("/schedule/every_minute/run/").status_code == 403
    assert client.post("/schedule/every_minute/pause/").status_code == 403
    assert django_rq.get_queue("sweeps").count == 0


def test_staff_without_the_role_cannot_act_for_a_provider_or_see_their_applications(client, staff):
    application = make_application(state=S.AWAITING_PROVIDER_DECISION)
    client.force_login(staff)

    assert client.get("/").context["rows"] == []
    assert client.get(f"/{application.pk}/").status_code == 404
    assert client.post(f"/{application.pk}/reject/").status_code == 404
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION


def test_staff_without_the_role_see_no_support_links(client, staff):
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert "Schedule" not in page and "Jobs dashboard" not in page
    assert "Admin" in page  # staff status opens the admin (to what their permissions allow)


def test_the_support_group_acts_for_any_provider_and_uses_the_support_pages(client):
    support = make_user()  # not staff: the role is the group's permission, not is_staff
    support.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    applications = [make_application(state=S.AWAITING_PROVIDER_DECISION) for _ in range(2)]
    client.force_login(support)

    assert sorted(a.pk for a, _ in client.get("/").context["rows"]) == sorted(a.pk for a in applications)
    assert client.post(f"/{applications[0].pk}/reject/").status_code == 302
    assert state_of(applications[0]) == S.REJECTED
    assert client.get("/schedule/").status_code == 200
    assert client.get("/support/health/").status_code == 200
    assert client.post("/schedule/every_minute/run/").status_code == 302
    assert django_rq.get_queue("sweeps").count == 1
    page = client.get("/").content.decode()
    assert "Schedule" in page and "Jobs dashboard" in page and "(support)" in page


def test_the_support_group_uses_the_admin_for_applications_and_lockouts_but_not_users(client):
    support = make_support_user()
    application = make_application(course=make_course())
    client.force_login(support)

    assert client.get("/admin/applications/application/").status_code == 200
    assert client.get(f"/admin/applications/application/{application.pk}/change/").status_code == 200
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403


def test_a_superuser_keeps_everything(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    for url in SUPPORT_PAGES:
        assert client.get(url).status_code == 200, url


def test_providers_and_candidates_are_not_support():
    assert not is_support(make_provider_user())
    assert not is_support(make_user())
    assert not is_support(make_user(is_staff=True))
    assert is_support(make_support_user())


def test_the_demo_support_user_is_in_the_support_group_not_a_superuser():
    call_command("load_demo_data", "--force", stdout=StringIO())
    support = get_user_model().objects.get(username="support")
    assert support.is_staff and not support.is_superuser
    assert support.groups.filter(name=SUPPORT_GROUP).exists()
    assert is_support(support)


def test_the_signed_in_user_s_support_role_agrees_with_has_perm_for_every_way_of_holding_it():
    """The backend reads the role with the user in one query (hand-written SQL); it must give
    Django's answer: the permission held directly, through the group, through another group
    that holds it, as a superuser, or not at all, and never for an inactive user."""
    from django.contrib.auth.models import Permission

    from apps.applications.auth import SUPPORT_PERMISSION, UserWithProviderBackend

    app_label, codename = SUPPORT_PERMISSION.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    other_group = Group.objects.create(name="Helpdesk")
    other_group.permissions.add(permission)
    unrelated = Group.objects.create(name="Readers")
    unrelated.permissions.add(Permission.objects.exclude(pk=permission.pk).first())

    direct = make_user()
    direct.user_permissions.add(permission)
    through_support = make_support_user()
    through_other = make_user()
    through_other.groups.add(other_group)
    superuser = make_user(is_superuser=True)
    in_unrelated_group = make_user()
    in_unrelated_group.groups.add(unrelated)
    inactive = make_support_user()
    get_user_model().objects.filter(pk=inactive.pk).update(is_active=False)
    expected = {direct: True, through_support: True, through_other: True, superuser: True,
                in_unrelated_group: False, make_user(is_staff=True): False, make_provider_user(): False}

    backend = UserWithProviderBackend()
    for user, holds in expected.items():
        loaded = backend.get_user(user.pk)
        fresh = get_user_model().objects.get(pk=user.pk)
        assert is_support(loaded) is holds is fresh.has_perm(SUPPORT_PERMISSION), user.username
    assert backend.get_user(inactive.pk) is None  # an inactive user is signed out, not merely not support
