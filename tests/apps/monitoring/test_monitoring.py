"""The daily report to support, the hourly invariant checks, and the support health page."""

import logging
from datetime import UTC, datetime, timedelta

import django_rq
import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker
from rq.job import JobStatus

from apps.applications.actors import Actor
from apps.applications.models import ApplicationEvent, ApplicationState
from apps.applications.services import application_make_offer
from apps.monitoring.invariants import DESCRIPTIONS, invariants_check
from apps.monitoring.job_registries import failed_job_counts
from apps.monitoring.models import InvariantFinding
from apps.monitoring.reports import daily_report_build, daily_report_send
from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.outbox.services import MAX_ATTEMPTS, outbox_emails_deliver
from tests.factories import make_application, make_cycle, make_provider_user, make_support_user, make_user

pytestmark = pytest.mark.django_db
S = ApplicationState


def _fail_one_job(queue_name="default"):
    """A real failed job in RQ's failed registry: a process job given bad arguments."""
    queue = django_rq.get_queue(queue_name)
    queue.enqueue("jobs.cycles.applications_mark_not_sent", "not-a-list")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.failed_job_registry.count == 1


def _age_outbox_row(key, minutes, status=OutboxStatus.PENDING):
    OutboxEmail.objects.create(key=key, to=["x@example.com"], subject="s", body_text="b", status=status)
    OutboxEmail.objects.filter(key=key).update(created_at=timezone.now() - timedelta(minutes=minutes))


# --- Daily report ----------------------------------------------------------------------


def test_daily_report_counts_states_measures_sweep_lateness_and_failed_jobs(settings):
    settings.SUPPORT_EMAIL = "support-team@example.com"
    now = timezone.now()
    make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(days=3))
    make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(minutes=2))
    make_application(state=S.OFFER, decline_by_default_at=now + timedelta(days=3))
    rejected = make_application(state=S.REJECTED, reject_by_default_at=now - timedelta(seconds=30))
    ApplicationEvent.objects.create(application=rejected, kind="reject_by_default", from_state=S.INTERVIEWING,
                                    to_state=S.REJECTED)
    _fail_one_job()

    report = daily_report_build(now=timezone.now())
    counts = dict(report.counts_by_state)
    assert counts["Awaiting decision"] == 2
    assert counts["Offer made"] == 1 and counts["Rejected"] == 1
    assert "Recruited" not in counts  # a summary lists the states that have applications, no empty rows
    assert report.total == 4
    rbd, dbd = report.sweeps
    assert (rbd.rule, rbd.processed_last_day, rbd.overdue_now) == ("reject_by_default", 1, 1)
    assert 25 <= rbd.max_late_seconds <= 90
    assert 115 <= rbd.lag_seconds <= 180
    assert (dbd.processed_last_day, dbd.overdue_now, dbd.lag_seconds) == (0, 0, 0)
    assert report.failed_jobs == {"sweeps": 0, "default": 1, "email": 0, "email_bulk": 0}

    assert daily_report_send(now=timezone.now()) is True
    email = OutboxEmail.objects.get(key__startswith="report:daily:")
    assert email.to == ["support-team@example.com"]
    assert "problems found" in email.subject
    assert "Awaiting decision: 2" in email.body_text
    assert "reject_by_default: 1 in the last 24 hours" in email.body_text
    assert "Failed jobs (RQ failed registries): 1" in email.body_text
    assert "default: 1" in email.body_text
    assert "<table>" in email.body_html


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2027, 3, 29, 7, 0, tzinfo=UTC), "2027-03-29"),  # 08:00 BST, the first Monday of summer time
        (datetime(2027, 6, 1, 23, 30, tzinfo=UTC), "2027-06-02"),  # 00:30 BST: already tomorrow in London
        (datetime(2027, 11, 1, 8, 0, tzinfo=UTC), "2027-11-01"),  # 08:00 GMT
    ],
)
def test_daily_report_is_written_once_per_london_day(moment, day):
    with time_machine.travel(moment, tick=False):
        assert daily_report_send(now=timezone.now()) is True
        assert daily_report_send(now=timezone.now()) is False
    with time_machine.travel(moment + timedelta(minutes=30), tick=False):
        assert daily_report_send(now=timezone.now()) is False
    assert list(OutboxEmail.objects.values_list("key", flat=True)) == [f"report:daily:{day}"]
    with time_machine.travel(moment + timedelta(days=1), tick=False):
        assert daily_report_send(now=timezone.now()) is True
    assert OutboxEmail.objects.count() == 2


# --- Invariant checks ------------------------------------------------------------------


def test_a_healthy_service_records_every_check_as_ok(caplog):
    now = timezone.now()
    make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(minutes=1))
    make_application(state=S.OFFER, decline_by_default_at=now + timedelta(days=1))
    _age_outbox_row("recent", minutes=2)

    with caplog.at_level(logging.ERROR):
        findings = invariants_check(now=now)

    assert {f.kind: f.count for f in findings} == {
        "overdue_reject_by_default": 0,  # due a minute ago: inside the sweep's grace
        "overdue_decline_by_default": 0,
        "overdue_close_cycle": 0,
        "timed_state_without_deadline": 0,
        "outbox_stuck": 0,
        "outbox_failed": 0,
        "failed_jobs": 0,
    }
    assert InvariantFinding.objects.count() == 7
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_broken_invariants_are_counted_stored_and_logged_as_errors(caplog):
    now = timezone.now()
    overdue = make_application(state=S.INTERVIEWING, reject_by_default_at=now - timedelta(minutes=10))
    make_application(state=S.OFFER, decline_by_default_at=now - timedelta(hours=2))
    no_deadline = make_application(state=S.OFFER, decline_by_default_at=None)
    closed_long_ago = make_cycle(year=2024, apply_deadline=now - timedelta(days=2),
                                 reject_by_default_date=now + timedelta(days=1))
    closed_just_now = make_cycle(year=2025, apply_deadline=now - timedelta(hours=1),
                                 reject_by_default_date=now + timedelta(days=1))
    left_open = make_application(cycle=closed_long_ago)
    make_application(cycle=closed_just_now)
    _age_outbox_row("stuck:1", minutes=20)
    _age_outbox_row("failed:1", minutes=1, status=OutboxStatus.FAILED)
    _fail_one_job("email")

    with caplog.at_level(logging.ERROR):
        findings = {f.kind: f for f in invariants_check(now=timezone.now())}

    assert {kind: f.count for kind, f in findings.items()} == {
        "overdue_reject_by_default": 1,
        "overdue_decline_by_default": 1,
        "overdue_close_cycle": 1,
        "timed_state_without_deadline": 1,
        "outbox_stuck": 1,
        "outbox_failed": 1,
        "failed_jobs": 1,
    }
    rbd = findings["overdue_reject_by_default"].detail
    assert rbd["sample_ids"] == [overdue.pk] and 590 <= rbd["lag_seconds"] <= 700
    assert findings["timed_state_without_deadline"].detail == {"sample_ids": [no_deadline.pk]}
    assert findings["overdue_close_cycle"].detail["sample_ids"] == [left_open.pk]
    assert findings["outbox_stuck"].detail["sample_keys"] == ["stuck:1"]
    assert findings["failed_jobs"].detail == {"per_queue": {"sweeps": 0, "default": 0, "email": 1, "email_bulk": 0}}
    errors = [r.getMessage() for r in caplog.records if r.name == "apps.monitoring.invariants"]
    assert {r.levelno for r in caplog.records if r.name == "apps.monitoring.invariants"} == {logging.ERROR}
    assert len(errors) == 7
    assert any(message.startswith("invariant broken: overdue_reject_by_default: 1") for message in errors)
    assert InvariantFinding.objects.filter(count__gt=0).count() == 7


def test_an_email_that_failed_for_good_is_reported_with_its_error_and_logged(settings, smtp_server, caplog):
    """Bad data (here a recipient address) makes every delivery attempt fail: the candidate is
    never told, and the hourly check says so, with the reason."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    application = make_application(state=S.AWAITING_PROVIDER_DECISION)
    application_make_offer(application_id=application.pk, actor=Actor(), now=timezone.now())
    email = OutboxEmail.objects.get(key=f"offer:candidate:{application.pk}")
    OutboxEmail.objects.filter(pk=email.pk).update(to=["candidate@example.com\nBcc: x@example.com"])
    for _ in range(MAX_ATTEMPTS):
        OutboxEmail.objects.filter(pk=email.pk).update(lease_until=None)  # each backoff over
        outbox_emails_deliver(email_ids=[email.pk])
    email.refresh_from_db()
    assert (email.status, email.attempts, smtp_server.messages) == (OutboxStatus.FAILED, MAX_ATTEMPTS, [])

    with caplog.at_level(logging.ERROR):
        finding = {f.kind: f for f in invariants_check(now=timezone.now())}["outbox_failed"]

    assert finding.count == 1
    assert finding.detail["sample_keys"] == [email.key]
    assert finding.detail["oldest_created_at"] == email.created_at.isoformat()
    assert finding.detail["sample_errors"] == [email.last_error[:200]]
    assert finding.detail["sample_errors"][0].startswith("ValueError: Invalid address")
    [logged] = [r for r in caplog.records if getattr(r, "invariant", None) == "outbox_failed"]
    assert logged.levelno == logging.ERROR and logged.count == 1
    assert "never sent" in DESCRIPTIONS["outbox_failed"]


def test_old_findings_are_pruned():
    InvariantFinding.objects.create(checked_at=timezone.now() - timedelta(days=31), kind="outbox_stuck", count=3)
    InvariantFinding.objects.create(checked_at=timezone.now() - timedelta(days=2), kind="outbox_stuck", count=3)
    invariants_check(now=timezone.now())
    assert InvariantFinding.objects.filter(kind="outbox_stuck").count() == 2


# --- Support health page ---------------------------------------------------------------


def test_health_page_is_for_support_only(client):
    url = reverse("applications:support_health")
    assert url == "/support/health/"
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    for user in (make_user(), make_provider_user()):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(make_support_user())
    response = client.get(url)
    assert response.status_code == 200
    assert f'href="{url}"' in response.content.decode()  # in the support navigation
    assert client.post(url).status_code == 405


def test_health_page_shows_the_latest_check_and_recent_problems(client):
    client.force_login(make_support_user())
    assert "No invariant check has run yet" in client.get("/support/health/").content.decode()

    make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=timezone.now() - timedelta(minutes=30))
    invariants_check(now=timezone.now())
    page = client.get("/support/health/").content.decode()
    assert "Applications past their reject-by-default deadline for more than 5 minutes" in page
    assert "1 found" in page
    assert "Problems found in the last week" in page
    assert "Emails pending for more than 15 minutes" in page
    # Live lag, whatever the last check said.
    assert "Reject applications by default" in page  # the Schedule page's name for the rule


def test_health_page_lag_uses_the_database_clock():
    """The selector behind the page compares with the database's Now(), not the host's clock."""
    from apps.applications.selectors import overdue_deadlines

    make_application(state=S.OFFER, decline_by_default_at=timezone.now() + timedelta(minutes=10))
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert [o.count for o in overdue_deadlines()] == [0, 0]


def test_health_page_shows_each_backlog_its_drain_rate_and_time_to_empty(client):
    from apps.applications import services
    from apps.applications.actors import Actor
    from apps.applications.selectors import overdue_deadlines
    from apps.monitoring.health import _drains

    past = timezone.now() - timedelta(minutes=2)
    due = [make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=past) for _ in range(4)]
    drains = {drain.name: drain for drain in _drains(overdue_deadlines())}
    rbd = drains["Reject applications by default"]
    assert (rbd.backlog, rbd.done_last_minute, rbd.seconds_to_empty) == (4, 0, None)  # not draining

    services.applications_reject_by_default(application_ids=[a.pk for a in due[:2]], actor=Actor.for_job("test"))
    drains = {drain.name: drain for drain in _drains(overdue_deadlines())}
    rbd = drains["Reject applications by default"]
    # Two left, two done in the last minute: 2 / (2/60 per second) = 60 s to empty.
    assert (rbd.backlog, rbd.done_last_minute, rbd.seconds_to_empty) == (2, 2, 60)
    urgent = drains["emails: urgent (decisions and deadlines)"]
    assert urgent.backlog == 2  # the providers' emails; the candidates' wait a minute
    assert drains["Decline offers by default"].seconds_to_empty == 0

    client.force_login(make_support_user())
    page = client.get("/support/health/").content.decode()
    assert "Backlogs and how fast they drain" in page
    assert "about 60 s" in page and "not draining" not in page.split("emails:")[0]


def _abandon_one_sweep():
    """A real abandoned sweep: the clock's job, started by a worker that then vanished; RQ's
    own registry maintenance moves it to the failed registry with AbandonedJobError."""
    from rq.registry import StartedJobRegistry

    queue = django_rq.get_queue("sweeps")
    job = queue.enqueue("jobs.maintenance.sessions_clear_expired", meta={"clock_entry": "clear_sessions"})
    queue.connection.lrem(queue.key, 1, job.id)  # taken by a worker ...
    job.set_status(JobStatus.STARTED)
    registry = StartedJobRegistry(queue=queue)
    # ... whose execution's heartbeat expired long ago (score: expiry time): the worker is gone.
    queue.connection.zadd(registry.key, {f"{job.id}:lost-execution": 1})
    registry.cleanup()
    assert queue.failed_job_registry.count == 1
    return job


def test_an_abandoned_sweep_is_not_an_alarm_but_a_failed_sweep_or_process_job_is(client):
    _abandon_one_sweep()

    assert failed_job_counts() == {"sweeps": 0, "default": 0, "email": 0, "email_bulk": 0}
    findings = {f.kind: f.count for f in invariants_check(now=timezone.now())}
    assert findings["failed_jobs"] == 0
    client.force_login(make_support_user())
    page = client.get("/support/health/").content.decode()
    assert "1 sweep abandoned by a" in page

    failing = django_rq.get_queue("sweeps")
    failing.enqueue("jobs.cycles.applications_mark_not_sent", "not-a-list", meta={"clock_entry": "close_cycle"})
    SimpleWorker([failing], connection=failing.connection).work(burst=True)
    _fail_one_job("default")
    assert failed_job_counts() == {"sweeps": 1, "default": 1, "email": 0, "email_bulk": 0}


def test_support_first_page_reads_the_verdict_from_a_snapshot_at_most_a_few_seconds_old(client, redis_db):
    """The verdict is computed by the first view that finds no snapshot, stored with its time and
    an expiry, and read back by the views after it (with the time it was checked) until it expires."""
    from apps.monitoring.health import ATTENTION_KEY, ATTENTION_MAX_AGE_SECONDS

    client.force_login(make_support_user())
    late = make_application(
        state=S.AWAITING_PROVIDER_DECISION, submitted_at=timezone.now() - timedelta(days=30),
        reject_by_default_at=timezone.now() - timedelta(minutes=10),
    )
    overdue = "1 deadline passed more than 3 minutes ago"
    first = client.get("/").content.decode()
    assert overdue in first and "Checked at" in first
    assert 0 < redis_db.ttl(ATTENTION_KEY) <= ATTENTION_MAX_AGE_SECONDS

    late.reject_by_default_at = timezone.now() + timedelta(days=5)
    late.save(update_fields=["reject_by_default_at"])
    assert overdue in client.get("/").content.decode(), "read from the snapshot, not computed again"
    assert overdue not in client.get("/support/health/").content.decode(), "Health reads live"

    redis_db.delete(ATTENTION_KEY)  # as its expiry does
    assert overdue not in client.get("/").content.decode()


def test_health_names_the_rules_as_the_schedule_page_does():
    """Health's tables and verdict say the Schedule page's titles (clock.py), not the rule's kind."""
    import clock
    from apps.applications.wording import RULE_TITLES

    titles = {entry.display_title for entry in clock.TIMETABLE}
    assert set(RULE_TITLES.values()) <= titles


def _abandon_one_delivery(email_ids):
    """A delivery job started by a worker that vanished, with no retries left: RQ fails it."""
    from rq.registry import StartedJobRegistry

    queue = django_rq.get_queue("email")
    job = queue.enqueue("jobs.outbox.outbox_emails_deliver", email_ids)
    queue.connection.lrem(queue.key, 1, job.id)
    job.set_status(JobStatus.STARTED)
    queue.connection.zadd(StartedJobRegistry(queue=queue).key, {f"{job.id}:lost-execution": 1})
    StartedJobRegistry(queue=queue).cleanup()
    assert queue.failed_job_registry.count == 1


def test_a_failed_delivery_job_is_an_alarm_until_its_emails_are_sent_then_it_healed():
    from apps.outbox.models import OutboxEmail, OutboxStatus

    email = OutboxEmail.objects.create(key="healed:1", to=["a@example.com"], subject="s", body_text="b")
    _abandon_one_delivery([email.pk])
    assert failed_job_counts()["email"] == 1

    OutboxEmail.objects.filter(pk=email.pk).update(status=OutboxStatus.SENT)  # the outbox sweep sent it since

    assert failed_job_counts()["email"] == 0
    assert {f.kind: f.count for f in invariants_check(now=timezone.now())}["failed_jobs"] == 0


@pytest.mark.django_db(transaction=True)
def test_delivery_jobs_enqueued_on_commit_carry_retries():
    from django.db import transaction

    from apps.outbox.services import Email, outbox_emails_add

    application = make_application()
    context = {"application": application, "candidate": application.candidate, "course": application.course,
               "provider": application.course.provider}
    with transaction.atomic():
        outbox_emails_add(emails=[Email(key="retry:1", to=["a@example.com"], template="rejected_by_default_candidate",
                                        context=context)])
    [job] = django_rq.get_queue("email").get_jobs()
    assert job.retries_left == 3 and len(job.retry_intervals) == 3


def test_health_warns_when_the_day_s_budget_runs_out_before_the_queue_drains(client, settings):
    from apps.monitoring.health import health_context

    settings.EMAIL_DAILY_BUDGET = 2
    for n in range(3):
        OutboxEmail.objects.create(key=f"budget:{n}", to=["a@example.com"], subject="s", body_text="b")
    context = health_context(now=timezone.now())
    assert any("budget runs out before the queue drains: 3 emails waiting, 2 left" in w for w in context["verdict"].warnings)
    settings.EMAIL_DAILY_BUDGET = 3
    assert not any("budget" in w for w in health_context(now=timezone.now())["verdict"].warnings)


def test_the_time_to_empty_an_email_queue_is_never_shorter_than_the_cap_allows():
    from apps.monitoring.health import Drain

    # 600 sent in the last minute (10/s), 300 waiting behind 300 time-critical ones, cap 5/s.
    drain = Drain("emails: bulk", 300, None, 600, cap_per_second=5, ahead=300)
    assert drain.seconds_to_empty == 120
    assert Drain("emails: bulk", 300, None, 600).seconds_to_empty == 30
