"""End of cycle (application_not_sent) and the recalculation of deadlines when non-working periods change
(the admin's side: tests/apps/applications/admin/test_cycles.py; a cycle's dates: test_timetables.py)."""

from datetime import UTC, date, datetime, timedelta

import django_rq
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.cycles import CycleNotClosable, applications_mark_not_sent, cycle_close
from apps.applications.models import Application, ApplicationEvent, ApplicationState, NonWorkingPeriod
from apps.applications.selectors import cycle_ids_to_close
from apps.applications.timetables import non_working_period_add, non_working_period_remove
from jobs.cycles import cycle_deadlines_recalculate
from tests.apps.applications.recalculation import (
    DBD_AFTER,
    DBD_BEFORE,
    RBD_AFTER,
    RBD_BEFORE,
    SUPPORT,
    live_applications,  # noqa: F401 (a fixture)
    recalculation_jobs,
    run_queued_jobs,
)
from tests.factories import make_application, make_cycle

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.cycles.applications_mark_not_sent", job_id="not-sent-test")


def _past_and_open_cycles():
    now = timezone.now()
    past = make_cycle(year=2025, apply_deadline=now - timedelta(hours=1), reject_by_default_date=now + timedelta(days=30))
    open_ = make_cycle(year=2026, apply_deadline=now + timedelta(days=1), reject_by_default_date=now + timedelta(days=60))
    return past, open_


# --- End of cycle --------------------------------------------------------------------


def test_only_unsubmitted_applications_of_cycles_past_their_apply_deadline_are_not_sent():
    past, open_ = _past_and_open_cycles()
    unsubmitted = make_application(cycle=past)
    submitted = make_application(cycle=past, state=S.AWAITING_PROVIDER_DECISION)
    still_open = make_application(cycle=open_)

    assert cycle_ids_to_close() == [past.pk]
    result = applications_mark_not_sent(application_ids=[unsubmitted.pk, submitted.pk, still_open.pk], actor=JOB)

    assert (result.changed, result.skipped, result.failed) == (1, 2, 0)
    states = dict(Application.objects.values_list("pk", "state"))
    assert states == {unsubmitted.pk: S.APPLICATION_NOT_SENT, submitted.pk: S.AWAITING_PROVIDER_DECISION,
                      still_open.pk: S.UNSUBMITTED}
    event = ApplicationEvent.objects.get()
    assert (event.application_id, event.kind, event.from_state, event.to_state, event.actor_job_id) == (
        unsubmitted.pk, "application_not_sent", S.UNSUBMITTED, S.APPLICATION_NOT_SENT, "not-sent-test"
    )
    assert cycle_ids_to_close() == []
    # Again: nothing changes twice.
    assert applications_mark_not_sent(application_ids=[unsubmitted.pk], actor=JOB).changed == 0
    assert ApplicationEvent.objects.count() == 1


def test_the_window_is_decided_by_the_database_clock_not_the_hosts():
    _, open_ = _past_and_open_cycles()
    application = make_application(cycle=open_)
    # A host whose clock runs two days ahead does not close a cycle that is still open.
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert cycle_ids_to_close() == []
        assert applications_mark_not_sent(application_ids=[application.pk], actor=JOB).changed == 0
    assert Application.objects.get(pk=application.pk).state == S.UNSUBMITTED


def test_a_candidate_cannot_submit_once_the_cycle_is_closed():
    past, _ = _past_and_open_cycles()
    application = make_application(cycle=past)
    applications_mark_not_sent(application_ids=[application.pk], actor=JOB)
    with pytest.raises(services.DomainError):
        services.application_submit(application_id=application.pk, actor=Actor(), now=timezone.now())


def test_cycle_close_runs_in_batches_and_refuses_before_the_deadline_unless_forced():
    past, open_ = _past_and_open_cycles()
    closing = [make_application(cycle=past) for _ in range(5)]
    early = [make_application(cycle=open_) for _ in range(2)]

    result = cycle_close(year=past.year, actor=JOB, batch_size=2)
    assert (result.changed, result.failed) == (5, 0)
    assert set(Application.objects.filter(pk__in=[a.pk for a in closing]).values_list("state", flat=True)) == {
        S.APPLICATION_NOT_SENT
    }

    with pytest.raises(CycleNotClosable, match="has not passed: candidates can still submit. Use --force"):
        cycle_close(year=open_.year, actor=JOB)
    assert not Application.objects.filter(cycle=open_).exclude(state=S.UNSUBMITTED).exists()

    result = cycle_close(year=open_.year, actor=JOB, force=True)
    assert result.changed == 2
    assert all(e.detail == {"forced": True} for e in ApplicationEvent.objects.filter(application__in=early))

    with pytest.raises(CycleNotClosable, match="There is no 1999 cycle"):
        cycle_close(year=1999, actor=JOB)


def test_close_cycle_command_says_why_it_refuses_and_what_it_did():
    past, open_ = _past_and_open_cycles()
    make_application(cycle=past)
    make_application(cycle=open_)

    with pytest.raises(CommandError, match="Use --force"):
        call_command("close_cycle", "--year", str(open_.year))

    out = _call("close_cycle", "--year", str(past.year))
    assert f"{past.year} cycle: 1 application(s) marked as not sent" in out
    assert "0 application(s) marked" in _call("close_cycle", "--year", str(past.year))

    assert "1 application(s) marked as not sent" in _call("close_cycle", "--year", str(open_.year), "--force")
    event = ApplicationEvent.objects.get(application__cycle=open_)
    assert event.actor_job_name == "manage.py close_cycle --force"


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- Deadline recalculation ----------------------------------------------------------

def test_adding_and_removing_a_period_recalculates_live_deadlines_and_records_where_they_moved(
    live_applications, django_capture_on_commit_callbacks
):
    cycle, awaiting, offer, unaffected, elsewhere = live_applications
    unaffected_rbd = unaffected.reject_by_default_at

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        period = non_working_period_add(cycle_id=cycle.pk, actor=SUPPORT, name="Easter week", starts_on=date(2027, 3, 30),
                                        ends_on=date(2027, 4, 2))
    assert recalculation_jobs() == []  # nothing reaches Redis before the commit
    for callback in callbacks:
        callback()
    [job] = recalculation_jobs()
    assert (job.func_name, job.args) == ("jobs.cycles.cycle_deadlines_recalculate", (cycle.pk,))
    run_queued_jobs()

    for application in (awaiting, offer, unaffected, elsewhere):
        application.refresh_from_db()
    assert awaiting.reject_by_default_at == RBD_AFTER
    assert offer.decline_by_default_at == DBD_AFTER
    assert unaffected.reject_by_default_at == unaffected_rbd
    assert elsewhere.reject_by_default_at == RBD_BEFORE
    events = {e.application_id: e for e in ApplicationEvent.objects.filter(kind="deadline_recalculated")}
    assert set(events) == {awaiting.pk, offer.pk}
    assert events[awaiting.pk].detail == {
        "deadline": "reject_by_default_at", "old": RBD_BEFORE.isoformat(), "new": RBD_AFTER.isoformat()
    }
    assert events[offer.pk].detail == {
        "deadline": "decline_by_default_at", "old": DBD_BEFORE.isoformat(), "new": DBD_AFTER.isoformat()
    }
    assert events[offer.pk].actor_job_name == "jobs.cycles.applications_recalculate_deadlines"
    assert (events[offer.pk].from_state, events[offer.pk].to_state) == (S.OFFER, S.OFFER)

    # Running it again moves nothing and records nothing.
    cycle_deadlines_recalculate(cycle.pk)
    run_queued_jobs()
    assert ApplicationEvent.objects.filter(kind="deadline_recalculated").count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        non_working_period_remove(period_id=period.pk, actor=SUPPORT)
    run_queued_jobs()
    awaiting.refresh_from_db()
    offer.refresh_from_db()
    assert (awaiting.reject_by_default_at, offer.decline_by_default_at) == (RBD_BEFORE, DBD_BEFORE)
    assert ApplicationEvent.objects.filter(kind="deadline_recalculated").count() == 4


def test_decided_applications_keep_their_deadlines(live_applications, django_capture_on_commit_callbacks):
    cycle, awaiting, offer, *_ = live_applications
    services.application_reject(application_id=awaiting.pk, actor=Actor())
    services.application_accept_offer(application_id=offer.pk, actor=Actor())
    with django_capture_on_commit_callbacks(execute=True):
        non_working_period_add(cycle_id=cycle.pk, actor=SUPPORT, name="Easter week", starts_on=date(2027, 3, 30), ends_on=date(2027, 4, 2))
    run_queued_jobs()
    assert not ApplicationEvent.objects.filter(kind="deadline_recalculated").exists()


def test_a_bad_period_is_refused_and_enqueues_nothing(django_capture_on_commit_callbacks):
    cycle = make_cycle(year=2027)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="non_working_period_ordered|ends_on"):
        non_working_period_add(cycle_id=cycle.pk, actor=SUPPORT, name="Backwards", starts_on=date(2027, 4, 2), ends_on=date(2027, 3, 30))
    assert not NonWorkingPeriod.objects.exists()
    assert recalculation_jobs() == []


def test_a_calendar_change_in_a_cycle_without_live_deadlines_enqueues_no_recalculation(django_capture_on_commit_callbacks):
    """Deadlines computed after the change already count it; a queued job would only overwrite
    deadlines set meanwhile (the local run's demo data moves some into the next minutes)."""
    cycle = make_cycle()
    make_application(cycle=cycle)  # a draft: no live deadline
    with django_capture_on_commit_callbacks(execute=True):
        period = non_working_period_add(
            cycle_id=cycle.pk, actor=SUPPORT, name="Christmas", starts_on=date(2026, 12, 24), ends_on=date(2027, 1, 1)
        )
        assert non_working_period_remove(period_id=period.pk, actor=SUPPORT) is False
    assert django_rq.get_queue("default").count == 0
