"""A live deadline binds at the instant it passes, by the database's clock, not when the sweep runs.

Past ``reject_by_default_at`` / ``decline_by_default_at`` no actor can leave the state (the
by-default rule owns the application); the sweep still records the by-default transition.
The boundary is tested at 23:59:59.999999 London in both seasons by travelling the one
clock both sides read (``services.deadline_clock``); the rest use the database's own clock.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Value
from django.urls import reverse
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.errors import DeadlinePassed
from apps.applications.models import Application, ApplicationEvent, ApplicationState
from apps.applications.working_days import LONDON
from apps.outbox.models import OutboxEmail
from tests.factories import make_application, make_user

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.applications.applications_decline_by_default", job_id="boundary-test")


def _travel(monkeypatch, moment: datetime) -> None:
    """Both the actors' check and the sweep's read this clock: move it to ``moment``."""
    monkeypatch.setattr(services, "deadline_clock", lambda: Value(moment))


def _unchanged(application: Application, state: str) -> None:
    application.refresh_from_db()
    assert application.state == state
    assert not ApplicationEvent.objects.filter(application=application).exists()


@pytest.mark.parametrize(
    "service, actor_kind",
    [
        (services.application_accept_offer, "candidate"),
        (services.application_decline_offer, "candidate"),
        (services.application_withdraw_offer, "provider"),
    ],
)
def test_an_offer_past_its_decline_by_default_time_cannot_be_answered(service, actor_kind):
    application = make_application(state=S.OFFER, decline_by_default_at=timezone.now() - timedelta(seconds=1))
    actor = Actor(user=application.candidate if actor_kind == "candidate" else make_user())

    with pytest.raises(DeadlinePassed, match=f"answer the offer on application {application.pk} passed.*declined by default"):
        service(application_id=application.pk, actor=actor)

    _unchanged(application, S.OFFER)


@pytest.mark.parametrize("state", [S.AWAITING_PROVIDER_DECISION, S.INTERVIEWING])
@pytest.mark.parametrize(
    "call",
    [
        lambda pk, actor: services.application_make_offer(application_id=pk, actor=actor, now=timezone.now()),
        lambda pk, actor: services.application_reject(application_id=pk, actor=actor),
        lambda pk, actor: services.application_withdraw(application_id=pk, actor=actor),
    ],
    ids=["make_offer", "reject", "withdraw"],
)
def test_no_decision_after_the_reject_by_default_time(state, call):
    application = make_application(state=state, reject_by_default_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(DeadlinePassed, match="rejected by default. Nothing changed."):
        call(application.pk, Actor(user=make_user()))

    _unchanged(application, state)
    assert not OutboxEmail.objects.exists()


def test_the_database_clock_decides_and_a_deadline_still_ahead_lets_the_actor_act():
    ahead = make_application(state=S.OFFER, decline_by_default_at=timezone.now() + timedelta(minutes=1))
    services.application_accept_offer(application_id=ahead.pk, actor=Actor(user=ahead.candidate))
    ahead.refresh_from_db()
    assert ahead.state == S.ACCEPTED


def test_the_sweep_still_records_the_by_default_transition_after_a_refusal():
    application = make_application(state=S.OFFER, decline_by_default_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DeadlinePassed):
        services.application_accept_offer(application_id=application.pk, actor=Actor(user=application.candidate))

    result = services.applications_decline_by_default(application_ids=[application.pk], actor=JOB)

    assert result.changed == 1
    application.refresh_from_db()
    assert (application.state, application.declined_by_default) == (S.DECLINED, True)
    assert list(application.events.values_list("kind", flat=True)) == ["decline_by_default"]


def _london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.mark.parametrize(
    "offered_at, deadline",
    [
        # Winter (GMT): offered Monday 23 Nov 2026, 10 working days later is Monday 7 Dec.
        (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), _london(2026, 12, 7, 23, 59, 59, 999999)),
        # Summer (BST): offered Monday 14 Jun 2027, the deadline is Monday 28 Jun, 22:59:59.999999 UTC.
        (datetime(2027, 6, 14, 9, 0, tzinfo=UTC), _london(2027, 6, 28, 23, 59, 59, 999999)),
    ],
    ids=["GMT", "BST"],
)
def test_the_boundary_is_the_deadline_instant_in_both_seasons(monkeypatch, settings, offered_at, deadline):
    settings.APPLY_DBD_WORKING_DAYS = 10
    first, second = (make_application(state=S.AWAITING_PROVIDER_DECISION) for _ in range(2))
    provider = Actor(user=make_user())
    for application in (first, second):
        _travel(monkeypatch, offered_at)
        offered = services.application_make_offer(application_id=application.pk, actor=provider, now=offered_at)
        assert offered.decline_by_default_at == deadline

    # One microsecond before: the candidate's answer wins and the sweep has nothing to do.
    _travel(monkeypatch, deadline - timedelta(microseconds=1))
    assert services.applications_decline_by_default(application_ids=[second.pk], actor=JOB).changed == 0
    services.application_accept_offer(application_id=first.pk, actor=Actor(user=first.candidate))

    # At the deadline itself (23:59:59.999999 London) the rule owns it: the answer is refused
    # and the sweep declines it by default.
    _travel(monkeypatch, deadline)
    with pytest.raises(DeadlinePassed, match=f"{deadline.day} {deadline:%B %Y} at 23:59 {deadline.tzname()}"):
        services.application_accept_offer(application_id=second.pk, actor=Actor(user=second.candidate))
    assert services.applications_decline_by_default(application_ids=[second.pk], actor=JOB).changed == 1

    states = dict(Application.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "state"))
    assert states == {first.pk: S.ACCEPTED, second.pk: S.DECLINED}


def test_the_page_shows_an_expired_offer_without_actions_and_a_late_post_changes_nothing(client):
    application = make_application(state=S.OFFER, decline_by_default_at=timezone.now() - timedelta(seconds=1))
    client.force_login(application.candidate)

    page = client.get(reverse("applications:detail", args=[application.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Deadline passed." in content
    assert "the offer is declined by default" in content
    assert "Accept offer" not in content and "Decline offer" not in content

    confirm = client.get(reverse("applications:action", args=[application.pk, "decline_offer"]))
    assert confirm.status_code == 409

    late = client.post(reverse("applications:action", args=[application.pk, "accept_offer"]), follow=True)
    assert "declined by default. Nothing changed." in late.content.decode()
    _unchanged(application, S.OFFER)


def test_the_page_still_offers_the_actions_before_the_deadline(client):
    application = make_application(state=S.OFFER, decline_by_default_at=timezone.now() + timedelta(hours=1))
    client.force_login(application.candidate)
    content = client.get(reverse("applications:detail", args=[application.pk])).content.decode()
    assert "Accept offer" in content and "Deadline passed." not in content
