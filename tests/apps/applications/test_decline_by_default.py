"""Decline by default: the DBD set on offer, and the set-based timed transition."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.models import Application, ApplicationEvent, ApplicationState, NonWorkingPeriod
from apps.applications.selectors import applications_due_for_decline
from apps.applications.working_days import LONDON
from apps.outbox.services import outbox_email_render
from apps.outbox.models import OutboxEmail
from tests.factories import make_application, make_cycle

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.applications.applications_decline_by_default", job_id="dbd-batch-test")


def _offer(**fields):
    return make_application(state=S.OFFER, offered_at=timezone.now() - timedelta(days=14), **fields)


@pytest.mark.parametrize(
    ("offered_at", "expected_london_day", "expected_utc"),
    [
        # Monday 23 Nov 2026 (GMT): 10 working days later is Monday 7 Dec, end of day 23:59:59 GMT.
        (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), date(2026, 12, 7), datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=UTC)),
        # Thursday 18 Mar 2027 (GMT), across Easter (Good Friday 26, Easter Monday 29 Mar) and the
        # clocks going forward (28 Mar): 19, 22-25, 30, 31 Mar, 1, 2, 5 Apr; the end of day is in BST.
        (datetime(2027, 3, 18, 9, 0, tzinfo=UTC), date(2027, 4, 5), datetime(2027, 4, 5, 22, 59, 59, 999999, tzinfo=UTC)),
        # 22:30 UTC is 23:30 BST, still Friday 22 Oct in London; across the clocks going back
        # (31 Oct), the deadline's end of day is in GMT.
        (datetime(2027, 10, 22, 22, 30, tzinfo=UTC), date(2027, 11, 5), datetime(2027, 11, 5, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_offer_sets_the_dbd_at_the_end_of_the_tenth_working_day_in_london(offered_at, expected_london_day, expected_utc):
    application = make_application(state=S.AWAITING_PROVIDER_DECISION, cycle=make_cycle(year=offered_at.year))
    result = services.application_make_offer(application_id=application.pk, actor=Actor(), now=offered_at)
    assert result.decline_by_default_at.astimezone(LONDON).date() == expected_london_day
    assert result.decline_by_default_at == expected_utc


def test_offer_dbd_skips_the_cycles_non_working_periods():
    cycle = make_cycle(year=2026)
    NonWorkingPeriod.objects.create(cycle=cycle, name="Christmas", starts_on=date(2026, 12, 21), ends_on=date(2027, 1, 1))
    application = make_application(state=S.INTERVIEWING, cycle=cycle)
    result = services.application_make_offer(
        application_id=application.pk, actor=Actor(), now=datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
    )
    # 15-18 Dec (4), skip 21 Dec - 1 Jan, 4-8 Jan (9), 11 Jan (10).
    assert result.decline_by_default_at.astimezone(LONDON).date() == date(2027, 1, 11)


def test_due_selector_uses_the_database_clock_and_only_open_offers():
    now = timezone.now()
    due = _offer(decline_by_default_at=now - timedelta(seconds=1))
    older = _offer(decline_by_default_at=now - timedelta(days=1))
    _offer(decline_by_default_at=now + timedelta(minutes=5))
    make_application(state=S.ACCEPTED, decline_by_default_at=now - timedelta(days=1))
    # The host's clock is not consulted: travelling far ahead changes nothing.
    with time_machine.travel(now + timedelta(days=365), tick=False):
        assert [d.pk for d in applications_due_for_decline(limit=10)] == [older.pk, due.pk]
    first = applications_due_for_decline(limit=1)
    assert [d.pk for d in first] == [older.pk]
    assert [d.pk for d in applications_due_for_decline(limit=10, after=first[-1])] == [due.pk]


def test_decline_by_default_changes_only_due_offers_records_events_and_emails_both_sides():
    now = timezone.now()
    due = _offer(decline_by_default_at=now - timedelta(minutes=1))
    not_due = _offer(decline_by_default_at=now + timedelta(hours=1))
    accepted = make_application(state=S.ACCEPTED, decline_by_default_at=now - timedelta(days=1))

    result = services.applications_decline_by_default(application_ids=[due.pk, not_due.pk, accepted.pk], actor=JOB)

    assert (result.changed, result.skipped, result.failed) == (1, 2, 0)
    states = dict(Application.objects.values_list("pk", "state"))
    assert states == {due.pk: S.DECLINED, not_due.pk: S.OFFER, accepted.pk: S.ACCEPTED}
    due.refresh_from_db()
    assert due.declined_by_default and not due.rejected_by_default and due.decided_at is not None
    event = ApplicationEvent.objects.get(application=due)
    assert (event.kind, event.from_state, event.to_state) == ("decline_by_default", S.OFFER, S.DECLINED)
    assert (event.actor_job_name, event.actor_job_id) == (JOB.job_name, JOB.job_id)
    emails = {email.key: email for email in OutboxEmail.objects.all()}
    assert set(emails) == {f"dbd:provider:{due.pk}", f"dbd:candidate:{due.pk}"}
    assert emails[f"dbd:provider:{due.pk}"].to == [due.course.provider.email]
    assert emails[f"dbd:candidate:{due.pk}"].to == [due.candidate.email]
    # Rendered at delivery from the snapshot taken with the change (deadline in London time).
    _, candidate_text, _ = outbox_email_render(emails[f"dbd:candidate:{due.pk}"])
    provider_subject, _, provider_html = outbox_email_render(emails[f"dbd:provider:{due.pk}"])
    assert "declined automatically" in candidate_text
    assert timezone.localtime(due.decline_by_default_at).strftime("%H:%M on %A") in candidate_text
    assert due.course.name in provider_subject and "\n" not in provider_subject
    assert "declined automatically" in provider_html


def test_decline_by_default_twice_changes_nothing_the_second_time():
    application = _offer(decline_by_default_at=timezone.now() - timedelta(seconds=5))
    first = services.applications_decline_by_default(application_ids=[application.pk], actor=JOB)
    second = services.applications_decline_by_default(application_ids=[application.pk], actor=JOB)
    assert (first.changed, second.changed, second.skipped) == (1, 0, 1)
    assert ApplicationEvent.objects.filter(application=application).count() == 1
    assert OutboxEmail.objects.count() == 2


def test_a_candidate_accepting_before_the_deadline_wins_over_a_later_sweep():
    application = _offer(decline_by_default_at=timezone.now() + timedelta(seconds=30))
    services.application_accept_offer(application_id=application.pk, actor=Actor(user=application.candidate))
    # The deadline passes (moved into the past, as time would), then the sweep runs.
    Application.objects.filter(pk=application.pk).update(decline_by_default_at=timezone.now() - timedelta(seconds=5))
    result = services.applications_decline_by_default(application_ids=[application.pk], actor=JOB)
    assert result.changed == 0
    application.refresh_from_db()
    assert application.state == S.ACCEPTED and not application.declined_by_default


def test_one_bad_record_is_counted_and_the_rest_of_the_batch_goes_on(monkeypatch):
    now = timezone.now()
    good = _offer(decline_by_default_at=now - timedelta(minutes=1))
    bad = _offer(decline_by_default_at=now - timedelta(minutes=1))
    real_insert = services.outbox_emails_insert

    def insert(*, source, **columns):
        if source.filter(pk=bad.pk).exists():
            raise ValueError("broken record")
        return real_insert(source=source, **columns)

    monkeypatch.setattr(services, "outbox_emails_insert", insert)
    result = services.applications_decline_by_default(application_ids=[good.pk, bad.pk], actor=JOB)

    assert (result.changed, result.failed) == (1, 1)
    assert Application.objects.get(pk=good.pk).state == S.DECLINED
    # The failed record rolled back whole: no state change, event or email without the others.
    assert Application.objects.get(pk=bad.pk).state == S.OFFER
    assert not ApplicationEvent.objects.filter(application=bad).exists()
    assert not OutboxEmail.objects.filter(key__endswith=f":{bad.pk}").exists()
