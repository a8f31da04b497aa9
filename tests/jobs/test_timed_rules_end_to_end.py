"""One end-to-end test per timed rule: the sweep is enqueued as the clock would enqueue it,
a real ``rqworker`` process runs it, the batches it fans out and the email delivery, and
the emails reach a real SMTP server on loopback. Running the sweeps again sends nothing twice.

(``tests/test_end_to_end.py`` goes through the real clock as well, for reject by default;
here the clock's part, enqueueing the sweep, is done directly so each test takes seconds
rather than waiting for a minute boundary.)
"""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from apps.applications.models import Application, ApplicationEvent, ApplicationState, ChaserSent
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.factories import make_application, make_cycle
from tests.jobs.burst import failed_jobs, run_burst_worker
from tests.processes import child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]
S = ApplicationState


@pytest.fixture
def env(smtp_server):
    return child_env(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                     EMAIL_PORT=smtp_server.port)


def _sweep(job: str) -> None:
    django_rq.get_queue("sweeps").enqueue_call(job)


def _message_ids(smtp_server) -> list[str]:
    return sorted(message["Message-ID"] for message in smtp_server.messages)


def test_decline_by_default_end_to_end(processes, smtp_server, env, redis_db):
    now = timezone.now()
    due = make_application(state=S.OFFER, offered_at=now - timedelta(days=14), decline_by_default_at=now - timedelta(seconds=2))
    not_due = make_application(state=S.OFFER, decline_by_default_at=now + timedelta(hours=1))

    _sweep("jobs.applications.applications_decline_due")
    run_burst_worker(processes, env)

    due.refresh_from_db()
    assert (due.state, due.declined_by_default) == (S.DECLINED, True)
    event = ApplicationEvent.objects.get(application=due)
    assert (event.kind, event.from_state, event.to_state) == ("decline_by_default", S.OFFER, S.DECLINED)
    assert event.actor_job_name == "jobs.applications.applications_decline_by_default"
    assert event.actor_job_id.startswith("dbd-batch-")
    assert Application.objects.get(pk=not_due.pk).state == S.OFFER
    assert _message_ids(smtp_server) == [f"<dbd.candidate.{due.pk}@apply.localhost>",
                                         f"<dbd.provider.{due.pk}@apply.localhost>"]
    assert sorted(m["To"] for m in smtp_server.messages) == sorted([due.candidate.email, due.course.provider.email])

    _sweep("jobs.applications.applications_decline_due")
    _sweep("jobs.applications.applications_decline_due")
    run_burst_worker(processes, env, name="worker-again")
    assert len(smtp_server.messages) == 2
    assert ApplicationEvent.objects.filter(application=due).count() == 1
    assert failed_jobs(redis_db) == {}


def test_chasers_end_to_end_send_each_chaser_once(processes, smtp_server, env, redis_db):
    now = timezone.now()
    provider_chase = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(hours=5))
    candidate_chase = make_application(state=S.OFFER, decline_by_default_at=now + timedelta(hours=5))
    far = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(days=40))
    answered = make_application(state=S.ACCEPTED, decline_by_default_at=now + timedelta(hours=5))

    _sweep("jobs.chasers.applications_chase_providers_due")
    _sweep("jobs.chasers.applications_chase_candidates_due")
    run_burst_worker(processes, env)

    assert _message_ids(smtp_server) == sorted([
        f"<chaser.provider.{provider_chase.pk}@apply.localhost>",
        f"<chaser.candidate.{candidate_chase.pk}@apply.localhost>",
    ])
    assert set(ChaserSent.objects.values_list("application_id", "kind")) == {
        (provider_chase.pk, "provider"),
        (candidate_chase.pk, "candidate"),
    }
    event = ApplicationEvent.objects.get(application=provider_chase)
    assert (event.kind, event.actor_job_name) == ("provider_chaser_sent", "jobs.chasers.applications_chase_providers")
    assert event.actor_job_id.startswith("chaser-provider-batch-")

    # More sweeps, and a retried batch holding the same ids: nothing is sent twice.
    for _ in range(2):
        _sweep("jobs.chasers.applications_chase_providers_due")
        _sweep("jobs.chasers.applications_chase_candidates_due")
    django_rq.get_queue("default").enqueue_call("jobs.chasers.applications_chase_providers", args=([provider_chase.pk],))
    run_burst_worker(processes, env, name="worker-again")

    assert len(smtp_server.messages) == 2
    assert ChaserSent.objects.count() == 2
    assert not ChaserSent.objects.filter(application__in=[far, answered]).exists()
    assert not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists()
    assert failed_jobs(redis_db) == {}


def test_close_cycle_end_to_end(processes, smtp_server, env, redis_db):
    now = timezone.now()
    closed = make_cycle(year=2025, apply_deadline=now - timedelta(minutes=5), reject_by_default_date=now + timedelta(days=30))
    still_open = make_cycle(year=2026, apply_deadline=now + timedelta(days=1), reject_by_default_date=now + timedelta(days=30))
    unsubmitted = [make_application(cycle=closed) for _ in range(5)]
    submitted = make_application(cycle=closed, state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(days=5))
    draft_in_open_cycle = make_application(cycle=still_open)

    _sweep("jobs.cycles.cycles_close_due")
    # Small pages and batches, so the fan-out pages by id and enqueues several batches.
    run_burst_worker(processes, {**env, "APPLY_SWEEP_LIMIT": "2", "APPLY_BATCH_SIZE": "1"})

    states = dict(Application.objects.values_list("pk", "state"))
    assert {states[a.pk] for a in unsubmitted} == {S.APPLICATION_NOT_SENT}
    assert states[submitted.pk] == S.AWAITING_PROVIDER_DECISION
    assert states[draft_in_open_cycle.pk] == S.UNSUBMITTED
    events = ApplicationEvent.objects.filter(kind="application_not_sent")
    assert sorted(events.values_list("application_id", flat=True)) == sorted(a.pk for a in unsubmitted)
    assert {e.actor_job_name for e in events} == {"jobs.cycles.applications_mark_not_sent"}
    assert all(e.actor_job_id.startswith("not-sent-batch-") for e in events)
    assert len({e.actor_job_id for e in events}) == 5  # one batch per id
    assert smtp_server.messages == []  # closing a cycle sends no email

    _sweep("jobs.cycles.cycles_close_due")
    run_burst_worker(processes, env, name="worker-again")
    assert ApplicationEvent.objects.filter(kind="application_not_sent").count() == 5
    assert failed_jobs(redis_db) == {}
