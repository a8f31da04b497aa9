"""End of cycle (application_not_sent) and the recalculation of deadlines when non-working periods change."""

from datetime import UTC, date, datetime, timedelta

import django_rq
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.cycles import (
    CycleNotClosable,
    applications_mark_not_sent,
    cycle_close,
    cycle_update,
    non_working_period_add,
    non_working_period_remove,
)
from apps.applications.models import Application, ApplicationEvent, ApplicationState, NonWorkingPeriod
from apps.applications.selectors import cycle_ids_to_close
from jobs.cycles import cycle_deadlines_recalculate
from tests.factories import make_application, make_cycle, make_support_user

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

SUBMITTED = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # Wednesday, GMT
# 20 working days, skipping Good Friday and Easter Monday: Friday 9 April (BST).
RBD_BEFORE = datetime(2027, 4, 9, 22, 59, 59, 999999, tzinfo=UTC)
# With 30 March - 2 April off as well: Thursday 15 April.
RBD_AFTER = datetime(2027, 4, 15, 22, 59, 59, 999999, tzinfo=UTC)
OFFERED = datetime(2027, 3, 24, 12, 0, tzinfo=UTC)  # Wednesday
DBD_BEFORE = datetime(2027, 4, 9, 22, 59, 59, 999999, tzinfo=UTC)  # 25, 30, 31 Mar, 1, 2, 5-9 Apr
DBD_AFTER = datetime(2027, 4, 15, 22, 59, 59, 999999, tzinfo=UTC)  # 25 Mar, 5-9, 12-15 Apr


def _recalculation_jobs():
    return [job for job in django_rq.get_queue("default").get_jobs() if job.func_name.startswith("jobs.cycles.")]


def _run_queued_jobs():
    """Run what is queued on 'default', in order, in this process (the worker's part)."""
    queue = django_rq.get_queue("default")
    while job_ids := queue.get_job_ids():
        job = queue.fetch_job(job_ids[0])
        queue.remove(job)
        job.func(*job.args, **job.kwargs)


@pytest.fixture
def live_applications():
    cycle = make_cycle(year=2027)
    other_cycle = make_cycle(year=2028)
    awaiting = make_application(cycle=cycle)
    services.application_submit(application_id=awaiting.pk, actor=Actor(), now=SUBMITTED)
    offer = make_application(cycle=cycle, state=S.INTERVIEWING, submitted_at=SUBMITTED)
    services.application_make_offer(application_id=offer.pk, actor=Actor(), now=OFFERED)
    unaffected = make_application(cycle=cycle)
    services.application_submit(application_id=unaffected.pk, actor=Actor(), now=datetime(2027, 5, 4, 9, 0, tzinfo=UTC))
    elsewhere = make_application(cycle=other_cycle)
    services.application_submit(application_id=elsewhere.pk, actor=Actor(), now=SUBMITTED)
    for application in (awaiting, offer, unaffected, elsewhere):
        application.refresh_from_db()
    assert (awaiting.reject_by_default_at, offer.decline_by_default_at) == (RBD_BEFORE, DBD_BEFORE)
    return cycle, awaiting, offer, unaffected, elsewhere


def test_adding_and_removing_a_period_recalculates_live_deadlines_and_records_where_they_moved(
    live_applications, django_capture_on_commit_callbacks
):
    cycle, awaiting, offer, unaffected, elsewhere = live_applications
    unaffected_rbd = unaffected.reject_by_default_at

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        period = non_working_period_add(cycle_id=cycle.pk, name="Easter week", starts_on=date(2027, 3, 30),
                                        ends_on=date(2027, 4, 2))
    assert _recalculation_jobs() == []  # nothing reaches Redis before the commit
    for callback in callbacks:
        callback()
    [job] = _recalculation_jobs()
    assert (job.func_name, job.args) == ("jobs.cycles.cycle_deadlines_recalculate", (cycle.pk,))
    _run_queued_jobs()

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
    _run_queued_jobs()
    assert ApplicationEvent.objects.filter(kind="deadline_recalculated").count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        non_working_period_remove(period_id=period.pk)
    _run_queued_jobs()
    awaiting.refresh_from_db()
    offer.refresh_from_db()
    assert (awaiting.reject_by_default_at, offer.decline_by_default_at) == (RBD_BEFORE, DBD_BEFORE)
    assert ApplicationEvent.objects.filter(kind="deadline_recalculated").count() == 4


def test_decided_applications_keep_their_deadlines(live_applications, django_capture_on_commit_callbacks):
    cycle, awaiting, offer, *_ = live_applications
    services.application_reject(application_id=awaiting.pk, actor=Actor())
    services.application_accept_offer(application_id=offer.pk, actor=Actor())
    with django_capture_on_commit_callbacks(execute=True):
        non_working_period_add(cycle_id=cycle.pk, name="Easter week", starts_on=date(2027, 3, 30), ends_on=date(2027, 4, 2))
    _run_queued_jobs()
    assert not ApplicationEvent.objects.filter(kind="deadline_recalculated").exists()


def test_a_bad_period_is_refused_and_enqueues_nothing(django_capture_on_commit_callbacks):
    cycle = make_cycle(year=2027)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="non_working_period_ordered|ends_on"):
        non_working_period_add(cycle_id=cycle.pk, name="Backwards", starts_on=date(2027, 4, 2), ends_on=date(2027, 3, 30))
    assert not NonWorkingPeriod.objects.exists()
    assert _recalculation_jobs() == []


def _cycle_admin_form(cycle, *, period_name: str, period_id=None) -> dict:
    """The cycle's admin change form as the browser posts it, unchanged, with one Easter-week period row."""
    london = timezone.localtime(cycle.apply_deadline)
    london_cap = timezone.localtime(cycle.reject_by_default_date)
    form = {
        "year": cycle.year,
        "apply_deadline_0": london.date().isoformat(),
        "apply_deadline_1": london.time().isoformat(),
        "reject_by_default_date_0": london_cap.date().isoformat(),
        "reject_by_default_date_1": london_cap.time().replace(microsecond=0).isoformat(),
        "non_working_periods-TOTAL_FORMS": "1",
        "non_working_periods-INITIAL_FORMS": "0" if period_id is None else "1",
        "non_working_periods-MIN_NUM_FORMS": "0",
        "non_working_periods-MAX_NUM_FORMS": "1000",
        "non_working_periods-0-cycle": cycle.pk,
        "non_working_periods-0-name": period_name,
        "non_working_periods-0-starts_on": "2027-03-30",
        "non_working_periods-0-ends_on": "2027-04-02",
    }
    if period_id is not None:
        form["non_working_periods-0-id"] = period_id
    return form


def test_saving_periods_in_the_admin_enqueues_the_recalculation(client, live_applications,
                                                                 django_capture_on_commit_callbacks):
    cycle = live_applications[0]
    client.force_login(make_support_user(is_superuser=True))
    url = reverse("admin:applications_recruitmentcycle_change", args=[cycle.pk])
    form = _cycle_admin_form(cycle, period_name="Easter week")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form, follow=True)
    assert response.status_code == 200
    assert "will be recalculated in the background" in response.content.decode()
    assert NonWorkingPeriod.objects.filter(cycle=cycle).count() == 1
    [job] = _recalculation_jobs()
    assert job.args == (cycle.pk,)

    # Saving again without changes enqueues nothing more.
    django_rq.get_queue("default").empty()
    period = NonWorkingPeriod.objects.get()
    form = _cycle_admin_form(cycle, period_name="Easter week", period_id=period.pk)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, form, follow=True)
    assert _recalculation_jobs() == []


def test_the_admin_changes_and_removes_periods_through_the_services(client, live_applications,
                                                                   django_capture_on_commit_callbacks):
    """Moving a period's dates or removing it recalculates; renaming it or changing nothing does not."""
    cycle, awaiting, *_ = live_applications
    with django_capture_on_commit_callbacks(execute=True):
        period = non_working_period_add(cycle_id=cycle.pk, name="Easter week", starts_on=date(2027, 3, 30),
                                        ends_on=date(2027, 4, 2))
    _run_queued_jobs()
    client.force_login(make_support_user(is_superuser=True))
    url = reverse("admin:applications_recruitmentcycle_change", args=[cycle.pk])
    form = _cycle_admin_form(cycle, period_name="Easter", period_id=period.pk)  # renamed only
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form, follow=True)
    assert "will be recalculated" not in response.content.decode()
    assert NonWorkingPeriod.objects.get().name == "Easter"
    assert _recalculation_jobs() == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**form, "non_working_periods-0-DELETE": "on"}, follow=True)
    assert "will be recalculated in the background" in response.content.decode()
    assert not NonWorkingPeriod.objects.exists()
    [job] = _recalculation_jobs()
    assert job.args == (cycle.pk,)
    _run_queued_jobs()
    awaiting.refresh_from_db()
    assert awaiting.reject_by_default_at == RBD_BEFORE


def test_moving_the_cycles_reject_by_default_date_recalculates(live_applications, django_capture_on_commit_callbacks):
    cycle, awaiting, *_ = live_applications
    with django_capture_on_commit_callbacks(execute=True):
        assert not cycle_update(cycle_id=cycle.pk, year=cycle.year, apply_deadline=cycle.apply_deadline,
                                reject_by_default_date=cycle.reject_by_default_date)
    assert _recalculation_jobs() == []
    cap = datetime(2027, 4, 1, 22, 59, 59, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert cycle_update(cycle_id=cycle.pk, year=cycle.year, apply_deadline=cycle.apply_deadline,
                            reject_by_default_date=cap)
    _run_queued_jobs()
    awaiting.refresh_from_db()
    assert awaiting.reject_by_default_at == cap  # before the 20th working day: the cap binds


def test_a_calendar_change_in_a_cycle_without_live_deadlines_enqueues_no_recalculation(django_capture_on_commit_callbacks):
    """Deadlines computed after the change already count it; a queued job would only overwrite
    deadlines set meanwhile (the local run's demo data moves some into the next minutes)."""
    import django_rq

    from apps.applications.cycles import non_working_period_add, non_working_period_remove

    cycle = make_cycle()
    make_application(cycle=cycle)  # a draft: no live deadline
    with django_capture_on_commit_callbacks(execute=True):
        period = non_working_period_add(
            cycle_id=cycle.pk, name="Christmas", starts_on=date(2026, 12, 24), ends_on=date(2027, 1, 1)
        )
        assert non_working_period_remove(period_id=period.pk) is False
    assert django_rq.get_queue("default").count == 0
