"""A sender paused past its lease, then resumed, sends none of the rows another sender took since."""

import pytest

from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.outbox.senders import DjangoEmailSender
from apps.outbox.services import outbox_emails_deliver
from tests.apps.outbox.test_services import add

pytestmark = pytest.mark.django_db

TAKEN = []


class PausedAfterFirstSend(DjangoEmailSender):
    """The real SMTP sender; after its first email the process "pauses" and another sender
    takes the rows it has not sent yet (as it may once their lease ran out)."""

    sent = 0

    def send(self, email):
        super().send(email)
        PausedAfterFirstSend.sent += 1
        if PausedAfterFirstSend.sent == 1:
            OutboxEmail.objects.filter(pk__in=TAKEN).update(lease_token="another-sender")


def test_a_resumed_sender_checks_its_lease_and_leaves_rows_taken_since(smtp, settings, monkeypatch):
    settings.OUTBOX_SENDER = f"{__name__}.PausedAfterFirstSend"
    monkeypatch.setattr("apps.outbox.delivery.LEASE_CHECK_SECONDS", 0)  # as if a second passed: check now
    emails = [add(f"f:{n}") for n in range(5)]
    TAKEN[:] = [e.pk for e in emails[2:]]

    result = outbox_emails_deliver(email_ids=[e.pk for e in emails])

    assert (result.sent, result.skipped) == (2, 3)
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(e.message_id for e in emails[:2])
    taken = OutboxEmail.objects.filter(pk__in=TAKEN)
    assert {(e.status, e.lease_token) for e in taken} == {(OutboxStatus.PENDING, "another-sender")}

