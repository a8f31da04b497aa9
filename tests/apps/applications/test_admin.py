"""The admin refuses names holding a line break (they go into emails) and changes nothing."""

import pytest
from django.contrib.auth import get_user_model

from apps.applications.models import Application, Course, NonWorkingPeriod, Provider
from tests.factories import make_course, make_cycle, make_provider, make_user

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
    data = {"provider": course.provider.pk, "name": "Maths", "code": "M1", field: value}
    response = admin_client.post(f"/admin/applications/course/{course.pk}/change/", data)
    assert len(_errors(response)) == 1
    course.refresh_from_db()
    assert (course.name, course.code) == ("Maths", "M1")


def test_a_non_working_period_name_with_a_line_break_is_refused(admin_client):
    cycle = make_cycle()
    response = admin_client.post(
        f"/admin/applications/recruitmentcycle/{cycle.pk}/change/",
        {
            "year": cycle.year,
            "apply_deadline_0": "2027-09-01", "apply_deadline_1": "17:00:00",
            "reject_by_default_date_0": "2027-09-30", "reject_by_default_date_1": "22:59:59",
            "non_working_periods-TOTAL_FORMS": "1", "non_working_periods-INITIAL_FORMS": "0",
            "non_working_periods-0-name": "Xmas\n2026", "non_working_periods-0-starts_on": "2026-12-24",
            "non_working_periods-0-ends_on": "2027-01-01",
        },
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
