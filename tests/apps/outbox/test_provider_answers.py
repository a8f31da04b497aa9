"""What the provider answers decides what happens: an aiosmtpd server that refuses some emails."""

import time

import django_rq
import pytest
from aiosmtpd.controller import Controller
from rq.registry import ScheduledJobRegistry

from apps.outbox import rate
from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.outbox.selectors import outbox_failed
from apps.outbox.services import outbox_emails_deliver
from tests.apps.outbox.test_services import add
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


class Answering:
    """Accepts every message except those whose recipient is in ``answers``: it gets that answer."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.accepted = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.answers:
            return self.answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.rcpt_tos[0])
        return "250 Message accepted"


@pytest.fixture
def provider(settings):
    def start(answers):
        handler = Answering(answers)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        return handler

    started = []
    yield start
    for controller in started:
        controller.stop()


def addressed(key: str, to: str) -> OutboxEmail:
    email = add(key)
    OutboxEmail.objects.filter(pk=email.pk).update(to=[to])
    return OutboxEmail.objects.get(pk=email.pk)


def test_a_permanent_refusal_gives_that_email_up_with_its_reason_and_the_rest_go_on(provider):
    server = provider({"gone@example.com": "550 5.1.1 No such mailbox"})
    first, gone, last = addressed("a:1", "a@example.com"), addressed("a:2", "gone@example.com"), addressed("a:3", "c@example.com")

    result = outbox_emails_deliver(email_ids=[first.pk, gone.pk, last.pk])

    assert (result.sent, result.given_up) == (2, 1)
    assert server.accepted == ["a@example.com", "c@example.com"]
    gone.refresh_from_db()
    assert gone.status == OutboxStatus.FAILED and gone.sweep_after is None
    assert gone.last_error == "Refused by the provider: 550 5.1.1 No such mailbox"
    # What support sees (Health's and the hourly check's given-up emails, with their last error).
    assert outbox_failed().sample == [(gone.key, gone.last_error)]


@pytest.mark.parametrize("code", [421, 450, 451, 452])
def test_a_temporary_refusal_backs_off_every_sender_and_hands_the_rest_on(provider, code):
    server = provider({"busy@example.com": f"{code} 4.7.0 Slow down"})
    first, busy, last = addressed("t:1", "a@example.com"), addressed("t:2", "busy@example.com"), addressed("t:3", "c@example.com")

    result = outbox_emails_deliver(email_ids=[first.pk, busy.pk, last.pk])

    assert (result.sent, result.handed_on, result.failed) == (1, 2, 0)
    assert server.accepted == ["a@example.com"]
    assert 0 < rate.backoff_left() <= rate.BACKOFF_FIRST_SECONDS
    # The two not sent wait, released and not counted as an attempt, for a job after the backoff.
    waiting = OutboxEmail.objects.filter(pk__in=[busy.pk, last.pk])
    assert {(e.status, e.attempts, e.lease_until) for e in waiting} == {(OutboxStatus.PENDING, 0, None)}
    assert ScheduledJobRegistry(queue=django_rq.get_queue("email")).count == 1

    # Another sender (another batch) sends nothing while the backoff lasts.
    other = addressed("t:4", "d@example.com")
    assert outbox_emails_deliver(email_ids=[other.pk]).handed_on == 1
    assert server.accepted == ["a@example.com"]


def test_a_second_refusal_backs_off_longer(provider):
    provider({"busy@example.com": "421 4.7.0 Try later"})
    outbox_emails_deliver(email_ids=[addressed("b:1", "busy@example.com").pk])
    first = rate.backoff_left()
    from apps.core.redis import redis_connection

    redis_connection().delete(f"{rate.PREFIX}:backoff")  # as if the first backoff had run out
    outbox_emails_deliver(email_ids=[addressed("b:2", "busy@example.com").pk])
    assert rate.BACKOFF_FIRST_SECONDS < rate.backoff_left() <= 2 * rate.BACKOFF_FIRST_SECONDS
    assert first <= rate.BACKOFF_FIRST_SECONDS


def test_once_the_backoff_ends_the_emails_go(provider):
    server = provider({})
    email = addressed("e:1", "a@example.com")
    from apps.core.redis import redis_connection

    redis_connection().set(f"{rate.PREFIX}:backoff", 1, px=300)
    assert outbox_emails_deliver(email_ids=[email.pk]).handed_on == 1
    deadline = time.monotonic() + 5
    while rate.backoff_left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox_emails_deliver(email_ids=[email.pk]).sent == 1
    assert server.accepted == ["a@example.com"]
