"""Chasers: the window in working days (per cycle calendar), once per application and kind, no flood."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.applications.actors import Actor
from apps.applications.chasers import applications_chase
from apps.applications.models import ApplicationEvent, ApplicationState, ChaserSent, NonWorkingPeriod
from apps.applications.selectors import application_ids_due_for_chaser
from apps.outbox.models import OutboxEmail
from tests.factories import make_application, make_cycle

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.chasers.applications_chase_providers", job_id="chaser-test")

# Monday 15 March 2027, GMT. Ten working days later, skipping Good Friday (26 Mar) and Easter
# Monday (29 Mar), is Wednesday 31 March, after the clocks go forward (28 Mar): its end of day
# is 22:59:59.999999 UTC. Five working days later is Monday 22 March, still GMT.
MONDAY = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
RBD_LAST_INSIDE = datetime(2027, 3, 31, 22, 59, 59, 999999, tzinfo=UTC)
RBD_FIRST_OUTSIDE = datetime(2027, 4, 1, 22, 59, 59, 999999, tzinfo=UTC)
DBD_LAST_INSIDE = datetime(2027, 3, 22, 23, 59, 59, 999999, tzinfo=UTC)
DBD_FIRST_OUTSIDE = datetime(2027, 3, 23, 23, 59, 59, 999999, tzinfo=UTC)


def _chase(kind, ids, now, **options):
    return applications_chase(kind=kind, application_ids=ids, actor=JOB, now=now, **options)


def _due_and_chase(kind, now):
    ids = application_ids_due_for_chaser(kind=kind, now=now, limit=100)
    return ids, _chase(kind, ids, now)


def test_provider_chaser_window_is_ten_working_days_across_easter_and_the_clocks_going_forward():
    inside = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_LAST_INSIDE)
    interviewing = make_application(state=S.INTERVIEWING, reject_by_default_at=RBD_LAST_INSIDE - timedelta(days=2))
    outside = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_FIRST_OUTSIDE)
    offer = make_application(state=S.OFFER, reject_by_default_at=RBD_LAST_INSIDE)

    with time_machine.travel(MONDAY, tick=False):
        ids, result = _due_and_chase("provider", timezone.now())

    assert ids == [interviewing.pk, inside.pk]
    assert (result.changed, result.skipped, result.failed) == (2, 0, 0)
    assert set(ChaserSent.objects.values_list("application_id", "kind")) == {
        (inside.pk, "provider"),
        (interviewing.pk, "provider"),
    }
    email = OutboxEmail.objects.get(key=f"chaser:provider:{inside.pk}")
    assert email.to == [inside.course.provider.email]
    assert "10 working days from today" in email.body_text
    assert "23:59 on Wednesday 31 March 2027" in email.body_text
    event = ApplicationEvent.objects.get(application=inside)
    assert (event.kind, event.from_state, event.to_state) == ("provider_chaser_sent", S.AWAITING_PROVIDER_DECISION,
                                                             S.AWAITING_PROVIDER_DECISION)
    assert event.actor_job_id == "chaser-test"
    assert not ChaserSent.objects.filter(application__in=[outside, offer]).exists()


def test_candidate_chaser_window_is_five_working_days():
    inside = make_application(state=S.OFFER, decline_by_default_at=DBD_LAST_INSIDE)
    outside = make_application(state=S.OFFER, decline_by_default_at=DBD_FIRST_OUTSIDE)
    accepted = make_application(state=S.ACCEPTED, decline_by_default_at=DBD_LAST_INSIDE)

    with time_machine.travel(MONDAY, tick=False):
        ids, result = _due_and_chase("candidate", timezone.now())

    assert ids == [inside.pk]
    assert result.changed == 1
    email = OutboxEmail.objects.get()
    assert (email.key, email.to) == (f"chaser:candidate:{inside.pk}", [inside.candidate.email])
    assert "5 working days from today" in email.body_text
    assert not ChaserSent.objects.filter(application__in=[outside, accepted]).exists()

    # A week later the other offer is inside the window; the first is not chased again.
    with time_machine.travel(MONDAY + timedelta(days=7), tick=False):
        ids, result = _due_and_chase("candidate", timezone.now())
    assert ids == [outside.pk]
    assert result.changed == 1
    assert OutboxEmail.objects.count() == 2


def test_the_window_follows_each_cycles_non_working_periods():
    with_christmas = make_cycle(year=2026)
    NonWorkingPeriod.objects.create(
        cycle=with_christmas, name="Christmas", starts_on=date(2026, 12, 21), ends_on=date(2027, 1, 1)
    )
    without = make_cycle(year=2027)
    dbd = datetime(2027, 1, 4, 23, 59, 59, 999999, tzinfo=UTC)
    chased = make_application(state=S.OFFER, cycle=with_christmas, decline_by_default_at=dbd)
    not_yet = make_application(state=S.OFFER, cycle=without, decline_by_default_at=dbd)

    # Monday 14 Dec 2026: 15-18 Dec, then 4 Jan is the 5th working day with Christmas off;
    # without the period the 5th is 21 Dec (25 and 28 Dec and 1 Jan are bank holidays anyway).
    with time_machine.travel(datetime(2026, 12, 14, 9, 0, tzinfo=UTC), tick=False):
        ids, _ = _due_and_chase("candidate", timezone.now())

    assert ids == [chased.pk]
    assert not ChaserSent.objects.filter(application=not_yet).exists()


def test_repeated_sweeps_and_retried_batches_chase_once():
    application = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_LAST_INSIDE)
    with time_machine.travel(MONDAY, tick=False):
        now = timezone.now()
        first = _due_and_chase("provider", now)
        second = _due_and_chase("provider", now)
        retried = _chase("provider", [application.pk, application.pk], now)
    with time_machine.travel(MONDAY + timedelta(days=3), tick=False):
        later = _due_and_chase("provider", timezone.now())

    assert first[0] == [application.pk] and first[1].changed == 1
    assert second[0] == [] and later[0] == []
    assert (retried.changed, retried.skipped) == (0, 2)
    assert ChaserSent.objects.count() == 1
    assert OutboxEmail.objects.count() == 1
    assert ApplicationEvent.objects.filter(kind="provider_chaser_sent").count() == 1


def test_a_chased_application_carries_its_flag_and_the_sweep_reads_only_unchased_ones():
    chased = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_LAST_INSIDE)
    with time_machine.travel(MONDAY, tick=False):
        now = timezone.now()
        _due_and_chase("provider", now)
        chased.refresh_from_db()
        assert (chased.provider_chaser_sent, chased.candidate_chaser_sent) == (True, False)
        # The flag is what the sweep's partial index reads: a flagged application is not selected.
        flagged = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_LAST_INSIDE,
                                   provider_chaser_sent=True)
        assert flagged.pk not in application_ids_due_for_chaser(kind="provider", now=now, limit=100)
        # A ChaserSent row without its flag (written before the flags existed) is selected once,
        # sends nothing, and gets its flag.
        unflagged = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=RBD_LAST_INSIDE)
        ChaserSent.objects.create(application=unflagged, kind="provider")
        ids, result = _due_and_chase("provider", now)
        assert ids == [unflagged.pk] and result.changed == 0
        unflagged.refresh_from_db()
        assert unflagged.provider_chaser_sent
        assert application_ids_due_for_chaser(kind="provider", now=now, limit=100) == []
    assert OutboxEmail.objects.count() == 1


def test_a_chaser_recorded_by_someone_else_is_not_sent_again():
    application = make_application(state=S.OFFER, decline_by_default_at=DBD_LAST_INSIDE)
    ChaserSent.objects.create(application=application, kind="candidate")
    with time_machine.travel(MONDAY, tick=False):
        result = _chase("candidate", [application.pk], timezone.now())
    assert result.changed == 0
    assert not OutboxEmail.objects.exists()
    # The two kinds are independent.
    ChaserSent.objects.create(application=application, kind="provider")
    assert ChaserSent.objects.filter(application=application).count() == 2


def test_deadlines_already_past_are_not_chased_unless_asked():
    """Enabling chasers on existing data must not email applications whose deadline went by."""
    now = timezone.now()
    past = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(minutes=10))
    future = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(hours=2))

    assert application_ids_due_for_chaser(kind="provider", now=now, limit=10) == [future.pk]
    # A batch holding a past id (selected a moment before its deadline) does not chase it either.
    result = _chase("provider", [past.pk, future.pk], now)
    assert result.changed == 1
    assert not ChaserSent.objects.filter(application=past).exists()

    assert application_ids_due_for_chaser(kind="provider", now=now, limit=10, include_past=True) == [past.pk]
    assert _chase("provider", [past.pk], now, include_past=True).changed == 1
    assert OutboxEmail.objects.filter(key=f"chaser:provider:{past.pk}").exists()


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown chaser kind 'sms'"):
        _chase("sms", [1], timezone.now())


def test_the_chaser_check_reads_one_clock_the_jobs_now():
    """The window and "the deadline has not passed" are both judged at ``now``: a deadline
    already past at ``now`` is not chased even while the database's clock is earlier."""
    passed = make_application(state=S.OFFER, decline_by_default_at=DBD_LAST_INSIDE)
    ahead = make_application(state=S.OFFER, decline_by_default_at=DBD_FIRST_OUTSIDE)
    the_day_after = DBD_LAST_INSIDE + timedelta(hours=12)  # 23 March 2027, noon

    result = _chase("candidate", [passed.pk, ahead.pk], the_day_after)

    assert result.changed == 1
    assert set(ChaserSent.objects.values_list("application_id", flat=True)) == {ahead.pk}
