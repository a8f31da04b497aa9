"""The admin refuses names holding a line break (they go into emails) and changes nothing;
providers, their users and courses are written through their services."""

import pytest
from django.contrib.auth import get_user_model

from apps.applications.models import Application, Course, NonWorkingPeriod, Provider, ProviderUser
from tests.apps.applications.recalculation import cycle_admin_form
from tests.factories import make_application, make_course, make_cycle, make_provider, make_provider_user, make_user

pytestmark = pytest.mark.django_db
REFUSED = "Remove a line break (U+000A) at position 6: names must be one line of printable text."


@pytest.fixture
def admin_client(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def _errors(response) -> list[str]:
    assert response.status_code == 200, "the form was accepted"
    form = response.context["adminform"].form
    return [message for messages in form.errors.values() for message in messages]


def test_a_provider_name_with_a_line_break_is_refused(admin_client):
    response = admin_client.post(
        "/admin/applications/provider/add/",
        {"code": "NT1", "name": "North\nTeach", "email": "a@example.com",
         "users-TOTAL_FORMS": "0", "users-INITIAL_FORMS": "0"},
    )
    assert _errors(response) == [REFUSED]
    assert not Provider.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("name", "Maths\nPhysics"), ("code", "M1\u2028X")])
def test_a_course_name_or_code_with_a_line_break_is_refused_and_the_course_is_unchanged(admin_client, field, value):
    course = make_course(name="Maths", code="M1")
    data = {"provider": course.provider.pk, "name": "Maths", "code": "M1", "start_month": 9, field: value}
    response = admin_client.post(f"/admin/applications/course/{course.pk}/change/", data)
    assert len(_errors(response)) == 1
    course.refresh_from_db()
    assert (course.name, course.code) == ("Maths", "M1")


def test_a_non_working_period_name_with_a_line_break_is_refused(admin_client):
    cycle = make_cycle()
    response = admin_client.post(
        f"/admin/applications/recruitmentcycle/{cycle.pk}/change/",
        cycle_admin_form(cycle, periods=[(None, "Xmas\n2026", "2026-12-24", "2027-01-01", False)]),
    )
    assert response.status_code == 200, "the form was accepted"
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {"name": [REFUSED.replace("position 6", "position 5")]}
    ]
    assert not NonWorkingPeriod.objects.exists()


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_users_name_with_a_line_break_is_refused_and_the_user_is_unchanged(admin_client, field):
    user = make_user(username="ada", first_name="Ada", last_name="Lovelace")
    data = {"username": "ada", "first_name": "Ada", "last_name": "Lovelace", "email": user.email,
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            field: "North\nTeach"}
    response = admin_client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert _errors(response) == [REFUSED]
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")


def test_a_users_name_can_still_be_changed(admin_client):
    user = make_user(username="zoe")
    data = {"username": "zoe", "first_name": "Zoë", "last_name": "O'Neill-Ćwikła", "email": user.email,
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    response = admin_client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.get_full_name() == "Zoë O'Neill-Ćwikła"


def test_a_user_added_with_a_line_break_in_the_username_is_refused(admin_client):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "north\nteach", "usable_password": "true",
         "password1": "a-long-pass-word-123", "password2": "a-long-pass-word-123"},
    )
    assert REFUSED in _errors(response)
    assert not get_user_model().objects.filter(username__startswith="north").exists()


def test_an_application_added_in_the_admin_is_a_draft_made_by_the_service_and_cannot_be_moved(admin_client):
    course, cycle, candidate = make_course(), make_cycle(), make_user(username="cand")
    response = admin_client.post(
        "/admin/applications/application/add/",
        {"candidate": candidate.pk, "course": course.pk, "cycle": cycle.pk,
         "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302
    application = Application.objects.get()
    assert (application.state, application.provider_id) == ("unsubmitted", course.provider_id)

    other = make_course(code="OTH", provider=make_provider(code="P2"))
    admin_client.post(
        f"/admin/applications/application/{application.pk}/change/",
        {"candidate": candidate.pk, "course": other.pk, "cycle": cycle.pk, "provider_chaser_sent": "on",
         "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"},
    )
    application.refresh_from_db()
    assert (application.course_id, application.provider_chaser_sent) == (course.pk, False)


def _provider_form(provider=None, *, memberships=(), new_users=(), removed=(), **fields):
    """The provider page's POST: its fields, one inline row per existing membership (removed
    ones ticked for deletion) and one per new user."""
    data = {"code": "NT1", "name": "North Teach", "email": "north@example.com"}
    if provider is not None:
        data = {"code": provider.code, "name": provider.name, "email": provider.email}
    data.update(fields)
    rows = [{"id": m.pk, "user": m.user_id, "DELETE": "on" if m in removed else ""} for m in memberships]
    rows += [{"id": "", "user": user.pk} for user in new_users]
    for i, row in enumerate(rows):
        data.update({f"users-{i}-{name}": value for name, value in row.items() if value != ""})
        data[f"users-{i}-provider"] = provider.pk if provider is not None else ""
    data.update({"users-TOTAL_FORMS": str(len(rows)), "users-INITIAL_FORMS": str(len(memberships))})
    return data


def test_a_provider_added_with_a_user_in_the_inline_is_made_by_the_services(admin_client):
    user = make_user()
    response = admin_client.post("/admin/applications/provider/add/", _provider_form(new_users=[user]))
    assert response.status_code == 302
    provider = Provider.objects.get()
    assert (provider.code, provider.name, provider.email) == ("NT1", "North Teach", "north@example.com")
    assert list(ProviderUser.objects.values_list("user_id", "provider_id")) == [(user.pk, provider.pk)]


def test_a_provider_changed_with_users_removed_and_added_in_the_inline(admin_client):
    provider = make_provider(code="NT1")
    kept, removed = (ProviderUser.objects.get(user=make_provider_user(provider=provider)) for _ in range(2))
    added = make_user()
    response = admin_client.post(
        f"/admin/applications/provider/{provider.pk}/change/",
        _provider_form(provider, memberships=[kept, removed], new_users=[added], removed=[removed],
                       name="North Teach SCITT", email="scitt@example.com"),
    )
    assert response.status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider.email) == ("North Teach SCITT", "scitt@example.com")
    assert set(provider.users.values_list("user_id", flat=True)) == {kept.user_id, added.pk}
    assert type(added).objects.filter(pk=removed.user_id).exists(), "removing a membership keeps the user"


def test_a_provider_change_with_a_duplicate_code_is_refused_and_changes_nothing(admin_client):
    make_provider(code="TAKEN")
    provider = make_provider(code="NT1", name="North Teach")
    response = admin_client.post(
        f"/admin/applications/provider/{provider.pk}/change/",
        _provider_form(provider, new_users=[make_user()], code="TAKEN", name="Renamed"),
    )
    assert _errors(response) == ["Provider with this Code already exists."]
    provider.refresh_from_db()
    assert (provider.code, provider.name) == ("NT1", "North Teach")
    assert not ProviderUser.objects.exists()


def test_a_user_who_belongs_to_another_provider_is_refused_in_the_inline(admin_client):
    provider, taken = make_provider(), make_provider_user()
    response = admin_client.post(
        f"/admin/applications/provider/{provider.pk}/change/", _provider_form(provider, new_users=[taken])
    )
    assert response.status_code == 200, "the form was accepted"
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {"user": ["Provider user with this User already exists."]}
    ]
    assert not provider.users.exists()


def test_a_provider_without_applications_is_deleted_with_its_courses_and_memberships(admin_client):
    provider = make_provider()
    make_course(provider=provider)
    user = make_provider_user(provider=provider)
    response = admin_client.post(f"/admin/applications/provider/{provider.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert (Provider.objects.count(), Course.objects.count(), ProviderUser.objects.count()) == (0, 0, 0)
    assert type(user).objects.filter(pk=user.pk).exists()


def test_a_provider_or_course_with_applications_cannot_be_deleted(admin_client):
    application = make_application()
    for url in (f"/admin/applications/provider/{application.provider_id}/delete/",
                f"/admin/applications/course/{application.course_id}/delete/"):
        response = admin_client.post(url, {"post": "yes"})
        assert response.status_code == 200, "the deletion was accepted"
        assert response.context["protected"], "the page names the applications in the way"
    assert Provider.objects.filter(pk=application.provider_id).exists()
    assert Course.objects.filter(pk=application.course_id).exists()


def test_a_provider_user_is_added_moved_and_removed_on_its_own_page(admin_client):
    user, first, second = make_user(), make_provider(), make_provider()
    response = admin_client.post("/admin/applications/provideruser/add/", {"user": user.pk, "provider": first.pk})
    assert response.status_code == 302
    membership = ProviderUser.objects.get()
    assert (membership.user_id, membership.provider_id) == (user.pk, first.pk)

    response = admin_client.post(
        f"/admin/applications/provideruser/{membership.pk}/change/", {"user": user.pk, "provider": second.pk}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.provider_id == second.pk

    response = admin_client.post(f"/admin/applications/provideruser/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ProviderUser.objects.exists()
    assert type(user).objects.filter(pk=user.pk).exists()


def test_a_provider_user_added_twice_on_its_own_page_is_refused(admin_client):
    taken = make_provider_user()
    response = admin_client.post(
        "/admin/applications/provideruser/add/", {"user": taken.pk, "provider": make_provider().pk}
    )
    assert _errors(response) == ["Provider user with this User already exists."]
    assert ProviderUser.objects.count() == 1


def test_provider_users_are_removed_by_the_delete_selected_action(admin_client):
    memberships = [ProviderUser.objects.get(user=make_provider_user()) for _ in range(2)]
    response = admin_client.post(
        "/admin/applications/provideruser/",
        {"action": "delete_selected", "_selected_action": [m.pk for m in memberships], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ProviderUser.objects.exists()


def test_a_course_is_added_and_changed_but_never_moved(admin_client):
    provider, other = make_provider(), make_provider()
    response = admin_client.post(
        "/admin/applications/course/add/", {"provider": provider.pk, "code": "M1", "name": "Maths", "start_month": 9}
    )
    assert response.status_code == 302
    course = Course.objects.get()
    assert (course.provider_id, course.code, course.name) == (provider.pk, "M1", "Maths")

    response = admin_client.post(
        f"/admin/applications/course/{course.pk}/change/",
        {"provider": other.pk, "code": "P1", "name": "Physics", "start_month": 1},
    )
    assert response.status_code == 302
    course.refresh_from_db()
    assert (course.provider_id, course.code, course.name, course.start_month) == (provider.pk, "P1", "Physics", 1)


def test_a_course_added_with_a_code_its_provider_already_has_is_refused(admin_client):
    course = make_course(code="M1")
    response = admin_client.post(
        "/admin/applications/course/add/",
        {"provider": course.provider_id, "code": "M1", "name": "Maths again", "start_month": 9},
    )
    assert _errors(response) == ["Course with this Provider and Code already exists."]
    assert Course.objects.count() == 1


def test_courses_without_applications_are_deleted_by_the_delete_selected_action(admin_client):
    courses = [make_course(), make_course()]
    response = admin_client.post(
        "/admin/applications/course/",
        {"action": "delete_selected", "_selected_action": [c.pk for c in courses], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Course.objects.exists()
