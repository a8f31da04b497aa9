"""Outbox delivery through a real SMTP server on loopback."""

from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from apps.outbox.models import OutboxEmail, OutboxQueue, OutboxStatus
from apps.outbox.services import (
    MAX_ATTEMPTS,
    Email,
    outbox_emails_add,
    outbox_emails_deliver,
    outbox_emails_requeue,
)
from tests.conftest import free_port
from tests.factories import make_application

pytestmark = pytest.mark.django_db


def make_sweepable(email):
    """As if the requeue interval had passed (the sweep compares with the database's clock)."""
    OutboxEmail.objects.filter(pk=email.pk).update(sweep_after=timezone.now() - timedelta(seconds=1))


def add(key="rbd:candidate:1", delay=None):
    application = make_application()
    outbox_emails_add(
        emails=[Email(key=key, to=["c@example.com"], template="rejected_by_default_candidate",
                      context={"application": application, "candidate": application.candidate,
                               "course": application.course, "provider": application.course.provider},
                      delay=delay)]
    )
    return OutboxEmail.objects.get(key=key)


def test_an_email_is_sent_once_with_its_key_as_message_id(smtp):
    email = add()
    first = outbox_emails_deliver(email_ids=[email.pk])
    again = outbox_emails_deliver(email_ids=[email.pk])

    assert (first.sent, again.sent, again.skipped) == (1, 0, 1)
    assert [m["Message-ID"] for m in smtp.messages] == ["<rbd.candidate.1@apply.localhost>"]
    email.refresh_from_db()
    assert (email.status, email.attempts, email.lease_until, email.sweep_after) == (OutboxStatus.SENT, 1, None, None)
    assert email.sent_at is not None


def test_the_same_key_written_twice_is_one_email():
    add()
    application = make_application()
    outbox_emails_add(emails=[Email(key="rbd:candidate:1", to=["x@example.com"], template="rejected_by_default_candidate",
                                    context={"application": application, "candidate": application.candidate,
                                             "course": application.course, "provider": application.course.provider})])
    assert OutboxEmail.objects.filter(key="rbd:candidate:1").count() == 1
    assert OutboxEmail.objects.get().to == ["c@example.com"]


def test_an_email_leased_by_another_sender_is_left_to_it(smtp):
    email = add()
    OutboxEmail.objects.filter(pk=email.pk).update(lease_token="other", lease_until=timezone.now() + timedelta(seconds=30))
    assert outbox_emails_deliver(email_ids=[email.pk]).skipped == 1
    assert smtp.messages == []
    make_sweepable(email)
    assert outbox_emails_requeue(limit=10) == {}  # leased: the sweep leaves it to its sender
    # The other sender died: its lease expires and the sweep takes the email again.
    OutboxEmail.objects.filter(pk=email.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert outbox_emails_requeue(limit=10) == {"email": [email.pk]}
    assert outbox_emails_deliver(email_ids=[email.pk]).sent == 1


def test_an_smtp_failure_backs_off_and_gives_up_after_the_last_attempt(settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    email = add()

    result = outbox_emails_deliver(email_ids=[email.pk])

    email.refresh_from_db()
    assert (result.failed, email.status, email.attempts) == (1, OutboxStatus.PENDING, 1)
    assert "ConnectionRefusedError" in email.last_error
    assert email.lease_until > timezone.now() + timedelta(seconds=30)  # backing off
    assert email.sweep_after == email.lease_until  # the sweep retries it after the backoff
    assert outbox_emails_requeue(limit=10) == {}

    OutboxEmail.objects.filter(pk=email.pk).update(attempts=MAX_ATTEMPTS - 1, lease_until=None)
    outbox_emails_deliver(email_ids=[email.pk])
    email.refresh_from_db()
    assert (email.status, email.attempts, email.sweep_after) == (OutboxStatus.FAILED, MAX_ATTEMPTS, None)


def test_one_failing_email_does_not_stop_the_others(smtp):
    good = add("a:1")
    bad = add("a:2")
    OutboxEmail.objects.filter(pk=bad.pk).update(to=["not an address\n"])
    result = outbox_emails_deliver(email_ids=[bad.pk, good.pk])
    assert (result.sent, result.failed) == (1, 1)
    assert len(smtp.messages) == 1


def test_a_delayed_email_waits_and_its_delivery_job_is_scheduled(smtp):
    with transaction.atomic():
        email = add(delay=timedelta(minutes=1))
    assert email.available_at > timezone.now() + timedelta(seconds=50)
    assert email.sweep_after > email.available_at
    assert outbox_emails_requeue(limit=10) == {}
    assert outbox_emails_deliver(email_ids=[email.pk]).skipped == 1
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_delayed_and_staggered_delivery_jobs_reach_redis_on_commit(settings):
    settings.OUTBOX_BATCH_SIZE = 50
    with transaction.atomic():
        add("late:1", delay=timedelta(minutes=1))
        application = make_application()
        context = {"application": application, "candidate": application.candidate, "course": application.course,
                   "provider": application.course.provider}
        outbox_emails_add(emails=[Email(key=f"bulk:{n}", to=["b@example.com"], template="rejected_by_default_candidate",
                                        context=context) for n in range(50 * 25)])
    queue = django_rq.get_queue("email")
    # 25 batches of 50: 20 now, 5 ten seconds later; plus the delayed one.
    assert queue.count == 20
    assert ScheduledJobRegistry(queue=queue).count == 6


def test_a_batch_is_claimed_at_once_and_sent_over_one_connection(smtp, settings):
    settings.OUTBOX_LEASE_CHECK_EVERY = 3
    emails = [add(f"batch:{n}") for n in range(7)]

    result = outbox_emails_deliver(email_ids=[email.pk for email in emails])

    assert (result.sent, result.skipped, result.failed) == (7, 0, 0)
    assert len(smtp.sessions) == 1
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(e.message_id for e in emails)
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_a_failure_mid_batch_reopens_the_connection_for_the_rest(smtp):
    first, bad, last = add("m:1"), add("m:2"), add("m:3")
    OutboxEmail.objects.filter(pk=bad.pk).update(to=["not an address\n"])

    result = outbox_emails_deliver(email_ids=[first.pk, bad.pk, last.pk])

    assert (result.sent, result.failed) == (2, 1)
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted([first.message_id, last.message_id])


def test_the_sweep_requeues_only_lost_emails_by_queue_and_never_twice():
    urgent = add("u:1")
    application = make_application()
    outbox_emails_add(emails=[Email(key="bulk:1", to=["b@example.com"], template="offer_made", queue=OutboxQueue.BULK,
                                    context={"application": application, "candidate": application.candidate,
                                             "course": application.course, "provider": application.course.provider})])
    bulk = OutboxEmail.objects.get(key="bulk:1")
    # Just written: its own delivery job was enqueued on commit, so the sweep leaves it.
    assert outbox_emails_requeue(limit=10) == {}

    make_sweepable(urgent)
    make_sweepable(bulk)
    # A queue with jobs waiting may hold the email's own job: that queue is left alone.
    assert outbox_emails_requeue(limit=10, queues_busy={"email_bulk"}) == {"email": [urgent.pk]}
    assert outbox_emails_requeue(limit=10) == {"email_bulk": [bulk.pk]}
    # Taken once: the next sweeps leave them until the requeue interval passes again.
    assert outbox_emails_requeue(limit=10) == {}
    urgent.refresh_from_db()
    assert urgent.sweep_after > timezone.now() + timedelta(seconds=60)


def test_sent_emails_are_never_requeued(smtp):
    email = add()
    outbox_emails_deliver(email_ids=[email.pk])
    make_sweepable(email)
    assert outbox_emails_requeue(limit=10) == {}


def test_an_unreachable_smtp_server_backs_off_the_whole_batch_at_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    emails = [add(f"down:{n}") for n in range(3)]

    result = outbox_emails_deliver(email_ids=[email.pk for email in emails])

    assert (result.sent, result.failed) == (0, 3)
    for email in OutboxEmail.objects.all():
        assert (email.status, email.attempts) == (OutboxStatus.PENDING, 1)
        assert "ConnectionRefusedError" in email.last_error
        assert email.sweep_after > timezone.now() + timedelta(seconds=20)
