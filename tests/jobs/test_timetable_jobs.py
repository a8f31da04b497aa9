"""Every clock entry exists as SPEC section 3 says, and every one runs once on a real worker.

Apply for teacher training's production lesson: a clock entry that no test ever ran failed
in production. Here each entry's job is enqueued the way the clock does it (no arguments,
its own job id, on its queue) against real Redis, and a real ``rqworker`` process runs it
and everything it fans out, with data present so each job has real work to do.
"""

from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.utils import timezone
from rq.job import Job, JobStatus

import clock
from apps.applications.models import Application, ApplicationState, ChaserSent
from apps.monitoring.models import InvariantFinding
from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.scheduling.timetable import tick_job_id
from tests.factories import make_application, make_cycle
from tests.jobs.burst import failed_jobs, run_burst_worker
from tests.processes import child_env

S = ApplicationState
LONDON = "Europe/London"

SPEC_TIMETABLE = {
    "applications_reject_due": ("* * * * *", "jobs.applications.applications_reject_due"),
    "applications_decline_due": ("* * * * *", "jobs.applications.applications_decline_due"),
    "outbox_emails_deliver_due": ("* * * * *", "jobs.outbox.outbox_emails_deliver_due"),
    "applications_chase_providers_due": ("35 * * * *", "jobs.chasers.applications_chase_providers_due"),
    "applications_chase_candidates_due": ("40 * * * *", "jobs.chasers.applications_chase_candidates_due"),
    "invariants_check": ("30 * * * *", "jobs.monitoring.invariants_check"),
    "cycles_close_due": ("1 0 * * *", "jobs.cycles.cycles_close_due"),
    "daily_report_send": ("0 8 * * 1-5", "jobs.monitoring.daily_report_send"),
    "sessions_clear_expired": ("17 3 * * *", "jobs.maintenance.sessions_clear_expired"),
}


def test_the_timetable_has_every_spec_entry_in_london_time_on_the_sweeps_queue():
    assert {entry.name: (entry.schedule, entry.job) for entry in clock.TIMETABLE} == SPEC_TIMETABLE
    assert {(entry.tz, entry.queue) for entry in clock.TIMETABLE} == {(LONDON, "sweeps")}
    assert all(len(entry.why) > 40 for entry in clock.TIMETABLE)
    assert clock.main(["--check"]) == 0


def test_each_entry_is_named_after_the_job_it_runs():
    """So a job id (``clock-<name>-<tick>``), a log line or a metric's ``entry`` label leads to the code."""
    assert [entry.name for entry in clock.TIMETABLE] == [entry.job.rpartition(".")[2] for entry in clock.TIMETABLE]


@pytest.mark.parametrize(
    ("name", "after", "expected_utc"),
    [
        # Just after midnight London time, GMT then BST.
        ("cycles_close_due", datetime(2027, 3, 27, 12, 0, tzinfo=UTC), datetime(2027, 3, 28, 0, 1, tzinfo=UTC)),
        ("cycles_close_due", datetime(2027, 3, 28, 12, 0, tzinfo=UTC), datetime(2027, 3, 28, 23, 1, tzinfo=UTC)),
        # Weekdays only: Friday's report, then Monday's (in BST, 07:00 UTC).
        ("daily_report_send", datetime(2027, 3, 26, 7, 0, tzinfo=UTC), datetime(2027, 3, 26, 8, 0, tzinfo=UTC)),
        ("daily_report_send", datetime(2027, 3, 26, 9, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 0, tzinfo=UTC)),
        ("applications_chase_candidates_due", datetime(2027, 3, 26, 9, 41, tzinfo=UTC),
         datetime(2027, 3, 26, 10, 40, tzinfo=UTC)),
    ],
)
def test_daily_and_hourly_entries_tick_in_london_time(name, after, expected_utc):
    entry = next(entry for entry in clock.TIMETABLE if entry.name == name)
    assert entry.next_after(after) == expected_utc


def _seed_work():
    """Something for every entry to do."""
    now = timezone.now()
    past_cycle = make_cycle(year=2025, apply_deadline=now - timedelta(hours=2), reject_by_default_date=now + timedelta(days=60))
    cycle = make_cycle(year=2026, apply_deadline=now + timedelta(days=200), reject_by_default_date=now + timedelta(days=300))
    return {
        "rbd": make_application(cycle=cycle, state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(seconds=5)),
        "dbd": make_application(cycle=cycle, state=S.OFFER, decline_by_default_at=now - timedelta(seconds=5)),
        "provider_chaser": make_application(
            cycle=cycle, state=S.INTERVIEWING, reject_by_default_at=now + timedelta(hours=3)
        ),
        "candidate_chaser": make_application(cycle=cycle, state=S.OFFER, decline_by_default_at=now + timedelta(hours=3)),
        "not_sent": make_application(cycle=past_cycle),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_every_timetable_entry_runs_once_on_a_real_worker_without_a_failed_job(processes, smtp_server, redis_db):
    work = _seed_work()
    OutboxEmail.objects.create(key="left:over", to=["someone@example.com"], subject="s", body_text="b")
    tick = timezone.now().replace(second=0, microsecond=0)
    job_ids = []
    for entry in clock.TIMETABLE:
        job = django_rq.get_queue(entry.queue).enqueue_call(
            entry.job, job_id=tick_job_id(entry.name, tick), meta={"clock_entry": entry.name}
        )
        job_ids.append(job.id)

    env = child_env(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                    EMAIL_PORT=smtp_server.port, APPLY_CANDIDATE_EMAIL_DELAY_SECONDS=0)
    worker = run_burst_worker(processes, env)

    assert failed_jobs(redis_db) == {}, worker.output()
    statuses = {job.id: job.get_status() for job in Job.fetch_many(job_ids, connection=redis_db)}
    assert set(statuses.values()) == {JobStatus.FINISHED}, statuses
    states = dict(Application.objects.values_list("pk", "state"))
    assert states[work["rbd"].pk] == S.REJECTED
    assert states[work["dbd"].pk] == S.DECLINED
    assert states[work["not_sent"].pk] == S.APPLICATION_NOT_SENT
    assert set(ChaserSent.objects.values_list("application_id", "kind")) == {
        (work["provider_chaser"].pk, "provider"),
        (work["candidate_chaser"].pk, "candidate"),
    }
    assert InvariantFinding.objects.exists()
    assert OutboxEmail.objects.filter(key__startswith="report:daily:").exists()
    # Every email the jobs wrote went out through SMTP.
    assert not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists()
    assert len(smtp_server.messages) == OutboxEmail.objects.count()
