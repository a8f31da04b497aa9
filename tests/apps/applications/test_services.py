from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.errors import ApplicationNotFound, DomainError, TransitionNotAllowed
from apps.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    Course,
    NonWorkingPeriod,
    Provider,
    ProviderUser,
)
from apps.applications.working_days import LONDON
from apps.outbox.models import OutboxEmail
from tests.factories import (
    make_application,
    make_course,
    make_cycle,
    make_provider,
    make_provider_user,
    make_user,
)

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.applications.applications_reject_by_default", job_id="rbd-batch-test")


def test_submit_sets_the_rbd_deadline_records_the_event_and_emails_the_provider(settings):
    settings.APPLY_RBD_WORKING_DAYS = 20
    application = make_application()
    now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

    result = services.application_submit(application_id=application.pk, actor=Actor(user=application.candidate), now=now)

    assert result.state == S.AWAITING_PROVIDER_DECISION
    assert result.submitted_at == now
    assert result.reject_by_default_at == datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    event = ApplicationEvent.objects.get(application=application)
    assert (event.kind, event.from_state, event.to_state, event.actor_user) == (
        "submit",
        S.UNSUBMITTED,
        S.AWAITING_PROVIDER_DECISION,
        application.candidate,
    )
    email = OutboxEmail.objects.get(key=f"submitted:provider:{application.pk}")
    assert email.to == [application.course.provider.email]
    assert str(application.pk) in email.body_text


def test_submit_uses_the_cycles_non_working_periods_and_cap():
    cycle = make_cycle(year=2026)
    NonWorkingPeriod.objects.create(
        cycle=cycle, name="Christmas", starts_on=datetime(2026, 12, 21).date(), ends_on=datetime(2027, 1, 1).date()
    )
    application = make_application(cycle=cycle)
    now = datetime(2026, 12, 18, 12, 0, tzinfo=UTC)
    result = services.application_submit(application_id=application.pk, actor=Actor(), now=now)
    # 20 working days from Friday 18 Dec, skipping 21 Dec - 1 Jan: Friday 29 Jan 2027.
    assert result.reject_by_default_at.astimezone(LONDON).date() == datetime(2027, 1, 29).date()

    cycle.reject_by_default_date = datetime(2027, 1, 15, 23, 59, tzinfo=UTC)
    cycle.save()
    capped = make_application(cycle=cycle)
    result = services.application_submit(application_id=capped.pk, actor=Actor(), now=now)
    assert result.reject_by_default_at == cycle.reject_by_default_date


def test_submit_after_the_apply_deadline_is_refused_and_changes_nothing():
    application = make_application()
    too_late = application.cycle.apply_deadline + timedelta(seconds=1)
    with pytest.raises(DomainError, match="closed to new applications"):
        services.application_submit(application_id=application.pk, actor=Actor(), now=too_late)
    application.refresh_from_db()
    assert application.state == S.UNSUBMITTED
    assert not ApplicationEvent.objects.exists()
    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize(
    ("service", "state"),
    [
        (services.application_accept_offer, S.AWAITING_PROVIDER_DECISION),
        (services.application_interview, S.INTERVIEWING),
        (services.application_reject, S.OFFER),
        (services.application_withdraw, S.REJECTED),
        (services.application_confirm_recruited, S.OFFER),
        (services.application_decline_offer, S.DECLINED),
    ],
)
def test_invalid_transitions_are_domain_errors_and_change_nothing(service, state):
    application = make_application(state=state)
    with pytest.raises(TransitionNotAllowed, match=f"application {application.pk}"):
        service(application_id=application.pk, actor=Actor())
    application.refresh_from_db()
    assert application.state == state
    assert not ApplicationEvent.objects.exists()


def test_unknown_application_is_a_clear_error():
    with pytest.raises(ApplicationNotFound, match="Application 999999 does not exist"):
        services.application_interview(application_id=999999, actor=Actor())


def test_provider_path_to_recruited():
    application = make_application(state=S.AWAITING_PROVIDER_DECISION)
    provider = Actor(user=make_user())
    services.application_interview(application_id=application.pk, actor=provider)
    offered = services.application_make_offer(
        application_id=application.pk, actor=provider, now=datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    )
    assert offered.decline_by_default_at == datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=UTC)
    assert OutboxEmail.objects.filter(key=f"offer:candidate:{application.pk}").exists()
    services.application_accept_offer(application_id=application.pk, actor=Actor(user=application.candidate))
    final = services.application_confirm_recruited(application_id=application.pk, actor=provider)
    assert final.state == S.RECRUITED
    assert list(application.events.values_list("kind", flat=True)) == [
        "interview",
        "make_offer",
        "accept_offer",
        "confirm_recruited",
    ]


def test_reject_by_default_changes_only_due_applications_using_the_database_clock():
    now = timezone.now()
    due = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(minutes=1))
    interviewing = make_application(state=S.INTERVIEWING, reject_by_default_at=now - timedelta(days=3))
    not_due = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(hours=1))
    decided = make_application(state=S.OFFER, reject_by_default_at=now - timedelta(days=1))

    result = services.applications_reject_by_default(
        application_ids=[due.pk, interviewing.pk, not_due.pk, decided.pk], actor=JOB
    )

    assert (result.changed, result.skipped, result.failed) == (2, 2, 0)
    states = dict(Application.objects.values_list("pk", "state"))
    assert states == {due.pk: S.REJECTED, interviewing.pk: S.REJECTED, not_due.pk: S.AWAITING_PROVIDER_DECISION,
                      decided.pk: S.OFFER}
    event = ApplicationEvent.objects.get(application=interviewing)
    assert (event.kind, event.from_state, event.to_state) == ("reject_by_default", S.INTERVIEWING, S.REJECTED)
    assert (event.actor_job_name, event.actor_job_id) == (JOB.job_name, JOB.job_id)
    assert set(OutboxEmail.objects.values_list("key", flat=True)) == {
        f"rbd:provider:{due.pk}",
        f"rbd:candidate:{due.pk}",
        f"rbd:provider:{interviewing.pk}",
        f"rbd:candidate:{interviewing.pk}",
    }
    assert Application.objects.get(pk=due.pk).rejected_by_default


def test_reject_by_default_twice_changes_nothing_the_second_time():
    application = make_application(
        state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=timezone.now() - timedelta(seconds=5)
    )
    first = services.applications_reject_by_default(application_ids=[application.pk], actor=JOB)
    second = services.applications_reject_by_default(application_ids=[application.pk], actor=JOB)
    assert (first.changed, second.changed, second.skipped) == (1, 0, 1)
    assert ApplicationEvent.objects.filter(application=application).count() == 1
    assert OutboxEmail.objects.count() == 2


def test_a_provider_decision_before_the_deadline_wins_over_a_later_sweep():
    application = make_application(
        state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=timezone.now() + timedelta(seconds=30)
    )
    services.application_make_offer(application_id=application.pk, actor=Actor(), now=timezone.now())
    # The deadline passes (moved into the past, as time would), then the sweep runs.
    Application.objects.filter(pk=application.pk).update(reject_by_default_at=timezone.now() - timedelta(seconds=5))
    result = services.applications_reject_by_default(application_ids=[application.pk], actor=JOB)
    assert result.changed == 0
    application.refresh_from_db()
    assert application.state == S.OFFER


def test_the_candidates_rejection_email_waits_a_minute_after_the_providers(settings):
    settings.APPLY_CANDIDATE_EMAIL_DELAY_SECONDS = 60
    application = make_application(
        state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=timezone.now() - timedelta(seconds=5)
    )
    services.applications_reject_by_default(application_ids=[application.pk], actor=JOB)
    provider = OutboxEmail.objects.get(key=f"rbd:provider:{application.pk}")
    candidate = OutboxEmail.objects.get(key=f"rbd:candidate:{application.pk}")
    assert 55 <= (candidate.available_at - provider.available_at).total_seconds() <= 65


# Providers, their users and courses: reference data, validated in full before anything is written.


def _fields(obj, *names):
    obj.refresh_from_db()
    return tuple(getattr(obj, name) for name in names)


def test_provider_update_changes_the_provider():
    provider = make_provider(code="NT1")
    services.provider_update(provider_id=provider.pk, code="NT2", name="North Teach", email="north@example.com")
    assert _fields(provider, "code", "name", "email") == ("NT2", "North Teach", "north@example.com")


@pytest.mark.parametrize(
    ("field", "value"), [("name", "North\nTeach"), ("code", "TAKEN"), ("email", "not-an-email")]
)
def test_provider_update_with_bad_input_is_a_validation_error_and_changes_nothing(field, value):
    make_provider(code="TAKEN")
    provider = make_provider(code="NT1", name="North", email="north@example.com")
    good = {"code": "NT1", "name": "North", "email": "north@example.com"}
    with pytest.raises(ValidationError) as refused:
        services.provider_update(provider_id=provider.pk, **{**good, field: value})
    assert list(refused.value.message_dict) == [field]
    assert _fields(provider, "code", "name", "email") == ("NT1", "North", "north@example.com")


def test_provider_create_with_a_duplicate_code_is_a_validation_error():
    make_provider(code="NT1")
    with pytest.raises(ValidationError):
        services.provider_create(code="NT1", name="Other", email="other@example.com")
    assert Provider.objects.count() == 1


def test_provider_delete_takes_its_courses_and_memberships_but_not_its_users():
    provider = make_provider()
    make_course(provider=provider)
    user = make_provider_user(provider=provider)
    services.provider_delete(provider_id=provider.pk)
    assert (Provider.objects.count(), Course.objects.count(), ProviderUser.objects.count()) == (0, 0, 0)
    assert type(user).objects.filter(pk=user.pk).exists()


def test_provider_delete_with_applications_is_refused_and_changes_nothing():
    application = make_application()
    provider = application.provider
    with pytest.raises(DomainError, match="has applications: it cannot be deleted"):
        services.provider_delete(provider_id=provider.pk)
    assert Provider.objects.filter(pk=provider.pk).exists()
    assert Course.objects.filter(pk=application.course_id).exists()


def test_provider_user_add_refuses_a_user_who_already_belongs_to_a_provider():
    user = make_provider_user()
    with pytest.raises(ValidationError) as refused:
        services.provider_user_add(user_id=user.pk, provider_id=make_provider().pk)
    assert list(refused.value.message_dict) == ["user"]
    assert ProviderUser.objects.count() == 1


def test_provider_user_update_moves_the_membership_and_refuses_a_taken_user():
    membership = ProviderUser.objects.get(user=make_provider_user())
    other_provider, other_user = make_provider(), make_user()
    services.provider_user_update(
        provider_user_id=membership.pk, user_id=other_user.pk, provider_id=other_provider.pk
    )
    assert _fields(membership, "user_id", "provider_id") == (other_user.pk, other_provider.pk)

    taken = make_provider_user()
    with pytest.raises(ValidationError):
        services.provider_user_update(
            provider_user_id=membership.pk, user_id=taken.pk, provider_id=other_provider.pk
        )
    assert _fields(membership, "user_id", "provider_id") == (other_user.pk, other_provider.pk)


def test_provider_user_remove_ends_the_membership_and_keeps_the_user():
    user = make_provider_user()
    membership_id = user.provider_user.pk
    services.provider_user_remove(provider_user_id=membership_id)
    assert not ProviderUser.objects.exists()
    assert type(user).objects.filter(pk=user.pk).exists()
    with pytest.raises(DomainError, match="does not exist"):
        services.provider_user_remove(provider_user_id=membership_id)


def test_course_update_changes_the_code_and_name():
    course = make_course(code="M1", name="Maths")
    services.course_update(course_id=course.pk, provider_id=course.provider_id, code="P1", name="Physics")
    assert _fields(course, "code", "name", "provider_id") == ("P1", "Physics", course.provider_id)


@pytest.mark.parametrize(("field", "value"), [("name", "Maths\nPhysics"), ("code", "TAKEN")])
def test_course_update_with_bad_input_is_a_validation_error_and_changes_nothing(field, value):
    course = make_course(code="M1", name="Maths")
    make_course(provider=course.provider, code="TAKEN")
    with pytest.raises(ValidationError):
        services.course_update(
            course_id=course.pk, provider_id=course.provider_id, **{"code": "M1", "name": "Maths", field: value}
        )
    assert _fields(course, "code", "name") == ("M1", "Maths")


def test_course_create_allows_the_same_code_at_another_provider_only():
    course = make_course(code="M1")
    services.course_create(provider_id=make_provider().pk, code="M1", name="Maths")
    with pytest.raises(ValidationError):
        services.course_create(provider_id=course.provider_id, code="M1", name="Maths again")
    assert Course.objects.filter(code="M1").count() == 2


def test_course_update_refuses_to_move_the_course_to_another_provider():
    course = make_course(code="M1", name="Maths")
    with pytest.raises(DomainError, match="a course never moves to another provider"):
        services.course_update(course_id=course.pk, provider_id=make_provider().pk, code="M2", name="Music")
    assert _fields(course, "code", "name", "provider_id") == ("M1", "Maths", course.provider_id)


def test_course_delete_is_refused_while_the_course_has_applications():
    application = make_application()
    with pytest.raises(DomainError, match="has applications: it cannot be deleted"):
        services.course_delete(course_id=application.course_id)
    assert Course.objects.filter(pk=application.course_id).exists()

    unused = make_course()
    services.course_delete(course_id=unused.pk)
    assert not Course.objects.filter(pk=unused.pk).exists()
