"""/metrics: who may read it, and that each metric follows the service's real state
(real database, real Redis, jobs and clock claims run in this process)."""

import ipaddress
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.applications.models import ApplicationState
from apps.monitoring import counters
from apps.scheduling.clock_state import ClockState
from apps.scheduling.timetable import Entry
from jobs import applications, outbox
from tests.factories import make_application

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- who may read it ------------------------------------------------------------------


def test_metrics_are_off_unless_a_token_or_network_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_the_token_must_match(client, metrics_on):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_an_allowed_network_reads_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
    # A forged X-Forwarded-For is not read without trusted proxies.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    settings.TRUSTED_PROXY_COUNT = 1
    assert client.get("/metrics", REMOTE_ADDR="172.16.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200


def test_bad_networks_stop_the_start():
    import subprocess
    import sys

    from tests.processes import child_env

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=child_env(METRICS_ALLOWED_NETWORKS="10.0.0.0/8,not-a-network"),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "METRICS_ALLOWED_NETWORKS" in result.stderr


def test_metrics_are_not_redirected_to_https(client, metrics_on):
    metrics_on.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# --- what they say --------------------------------------------------------------------


def test_lag_records_and_sweeps_follow_a_due_deadline_through_its_jobs(client, metrics_on, redis_db):
    now = timezone.now()
    make_application(state=ApplicationState.AWAITING_PROVIDER_DECISION, reject_by_default_at=now - timedelta(minutes=2))
    make_application(state=ApplicationState.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(days=1))

    before = scrape(client)
    assert value(before, "apply_deadlines_overdue", rule="reject_by_default") == 1
    assert value(before, "apply_deadlines_overdue", rule="decline_by_default") == 0
    assert 115 <= value(before, "apply_deadline_oldest_overdue_age_seconds", rule="reject_by_default") < 600
    assert value(before, "apply_metrics_source_up", source="database") == 1
    assert value(before, "apply_metrics_source_up", source="redis") == 1

    assert applications.applications_reject_due()["enqueued"] == 1
    [batch] = __import__("django_rq").get_queue("default").get_jobs()
    assert scrape(client)[("apply_queue_length", (("queue", "default"),))] == 1
    batch.perform()

    after = scrape(client)
    assert value(after, "apply_deadlines_overdue", rule="reject_by_default") == 0
    assert value(after, "apply_deadline_oldest_overdue_age_seconds", rule="reject_by_default") == 0
    assert value(after, "apply_sweep_runs_total", rule="reject_by_default", outcome="ok") == 1
    assert value(after, "apply_sweep_duration_seconds_count", rule="reject_by_default") == 1
    assert value(after, "apply_sweep_duration_seconds_bucket", rule="reject_by_default", le="+Inf") == 1
    assert value(after, "apply_records_changed_total", rule="reject_by_default") == 1
    # The provider's email is due now, the candidate's a minute later.
    assert value(after, "apply_outbox_pending", queue="email") == 1
    assert value(after, "apply_outbox_oldest_pending_age_seconds", queue="email") < 60


def test_a_sweep_skipped_or_failed_is_counted_as_such(client, metrics_on, monkeypatch):
    from apps.core.leases import Lease
    from apps.core.redis import redis_connection

    lease = Lease(redis_connection(), "sweep:applications_decline_due", ttl_seconds=60)
    assert lease.acquire()
    assert applications.applications_decline_due() == {"skipped": True}
    lease.release()

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(applications, "applications_due_for_decline", broken)
    with pytest.raises(RuntimeError):
        applications.applications_decline_due()
    samples = scrape(client)
    assert value(samples, "apply_sweep_runs_total", rule="decline_by_default", outcome="skipped") == 1
    assert value(samples, "apply_sweep_runs_total", rule="decline_by_default", outcome="failed") == 1


def test_emails_sent_and_failed_are_counted(client, metrics_on, settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    from apps.outbox.models import OutboxEmail
    from apps.outbox.services import Email, outbox_emails_add

    outbox_emails_add(emails=[Email(key=f"metrics:{i}", to=["a@example.com"], template="daily_report",
                                    context={"report": {}}) for i in range(2)])
    ids = list(OutboxEmail.objects.values_list("pk", flat=True))
    outbox.outbox_emails_deliver(ids)
    settings.EMAIL_PORT = 1  # nothing listens: the next attempt fails
    OutboxEmail.objects.filter(pk=ids[0]).update(status="pending", lease_until=None)
    outbox.outbox_emails_deliver(ids[:1])
    samples = scrape(client)
    # Run in this process, not by a worker: no queue to name.
    assert value(samples, "apply_emails_total", queue="none", outcome="sent") == 2
    assert value(samples, "apply_emails_total", queue="none", outcome="failed") == 1


def test_clock_claims_count_ticks_by_outcome_and_lateness(client, metrics_on, redis_db):
    entry = Entry(name="metrics_entry", schedule="* * * * *", tz="UTC", job="jobs.maintenance.sessions_clear_expired",
                  queue="sweeps", why="test")
    state = ClockState(redis_db)
    now = timezone.now().replace(second=30, microsecond=0)
    state.register(entry, now - timedelta(minutes=5))
    tick = entry.latest_at_or_before(now - timedelta(minutes=4))
    assert state.claim_and_enqueue(entry, tick, clock_id="test", now=tick + timedelta(seconds=0.2))
    state.set_paused(entry.name, True)
    tick = entry.next_after(tick)
    assert state.claim_and_enqueue(entry, tick, clock_id="test", now=tick + timedelta(seconds=40)) == "paused"
    samples = scrape(client)
    assert value(samples, "apply_clock_ticks_total", entry="metrics_entry", outcome="enqueued") == 1
    assert value(samples, "apply_clock_ticks_total", entry="metrics_entry", outcome="paused") == 1
    assert value(samples, "apply_clock_ticks_late_total", entry="metrics_entry") == 1
    assert value(samples, "apply_clock_tick_lateness_seconds_bucket", le="0.25") == 1
    assert value(samples, "apply_clock_tick_lateness_seconds_bucket", le="60.0") == 2
    assert value(samples, "apply_clock_tick_lateness_seconds_count") == 2
    assert value(samples, "apply_clock_tick_lateness_seconds_sum") == pytest.approx(40.2)
    assert value(samples, "apply_clock_entry_paused", entry="metrics_entry") == 1
    assert value(samples, "apply_clock_entry_last_tick_timestamp_seconds", entry="metrics_entry") == tick.timestamp()
    assert value(samples, "apply_clocks_alive") == 0
    state.heartbeat("host-1", timezone.now())
    assert value(scrape(client), "apply_clocks_alive") == 1


def test_workers_are_counted_per_queue(client, metrics_on, redis_db):
    from rq import Worker

    worker = Worker(["sweeps", "email"], connection=redis_db)
    worker.register_birth()
    try:
        samples = scrape(client)
    finally:
        worker.register_death()
    assert value(samples, "apply_workers_alive") == 1
    assert value(samples, "apply_workers_busy") == 0
    assert value(samples, "apply_queue_workers", queue="sweeps") == 1
    assert value(samples, "apply_queue_workers", queue="default") == 0


def test_a_metrics_failure_never_fails_the_job(settings, redis_db, caplog):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0"}}
    counters.records_recorded("reject_by_default", changed=3)
    assert "metrics not recorded" in caplog.text


def test_without_redis_the_scrape_still_answers_with_the_database_metrics(client, metrics_on):
    metrics_on.RQ_QUEUES = {**metrics_on.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0"}}
    samples = scrape(client)
    assert value(samples, "apply_metrics_source_up", source="redis") == 0
    assert value(samples, "apply_metrics_source_up", source="database") == 1
    assert value(samples, "apply_deadlines_overdue", rule="reject_by_default") == 0
