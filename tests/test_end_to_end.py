"""Reject by default end to end: a real clock enqueues the sweep, a real worker runs it and
the batch, and the emails go through SMTP to a real server on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.applications.models import Application, ApplicationEvent, ApplicationState
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.factories import make_application
from tests.processes import child_env, clock_args, wait_until, worker_args

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]
S = ApplicationState


def test_clock_and_worker_reject_a_due_application_and_email_it_once(processes, smtp_server):
    now = timezone.now()
    due = make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=now + timedelta(seconds=2))
    not_due = make_application(state=S.INTERVIEWING, reject_by_default_at=now + timedelta(hours=1))
    env = child_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_server.port,
    )
    worker = processes.start("worker", worker_args(), env)
    clock = processes.start("clock", clock_args(), env)

    # The every-minute entry fires at the next minute boundary: at most ~60 s away.
    wait_until(
        lambda: Application.objects.get(pk=due.pk).state == S.REJECTED,
        timeout=100,
        message="the due application to be rejected by default",
    )
    provider_id = f"<rbd.provider.{due.pk}@apply.localhost>"
    candidate_id = f"<rbd.candidate.{due.pk}@apply.localhost>"
    wait_until(lambda: provider_id in smtp_server.first_received_at, timeout=30, message="the provider's email")
    # The candidate's email is a delayed one-off job: a minute after the provider's.
    wait_until(lambda: candidate_id in smtp_server.first_received_at, timeout=100, message="the candidate's email")
    gap = smtp_server.first_received_at[candidate_id] - smtp_server.first_received_at[provider_id]
    assert 55 <= gap <= 100, gap
    wait_until(
        lambda: not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists(), timeout=30, message="outbox sent"
    )

    # The real timetable runs: a test crossing :35 or :40 also sees chasers, which are not ours to check here.
    event = ApplicationEvent.objects.get(application=due, kind="reject_by_default")
    assert (event.kind, event.from_state, event.to_state) == ("reject_by_default", S.AWAITING_PROVIDER_DECISION, S.REJECTED)
    assert event.actor_job_name == "jobs.applications.applications_reject_by_default"
    assert event.actor_job_id.startswith("rbd-batch-")
    assert Application.objects.get(pk=not_due.pk).state == S.INTERVIEWING
    assert not ApplicationEvent.objects.filter(application=not_due, kind="reject_by_default").exists()

    rbd = [message for message in smtp_server.messages if message["Message-ID"].startswith("<rbd.")]
    message_ids = sorted(message["Message-ID"] for message in rbd)
    assert message_ids == [f"<rbd.candidate.{due.pk}@apply.localhost>", f"<rbd.provider.{due.pk}@apply.localhost>"]
    recipients = sorted(message["To"] for message in rbd)
    assert recipients == sorted([due.candidate.email, due.course.provider.email])
    assert "clock-applications_reject_due-" in clock.output()
    assert worker.popen.poll() is None and clock.popen.poll() is None
    assert clock.stop() == 0
    assert worker.stop() == 0
