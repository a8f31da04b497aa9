"""How an outbox email leaves the service: one interface, and the class that ships.

Delivery (``apps.outbox.delivery``) talks only to a ``Sender``: ``open()`` once per
batch, ``send(message)`` per email, ``close()`` at the end. A send either returns (the
provider accepted the email), or raises ``TemporaryRefusal`` (the provider asks the whole
sender to slow down: SMTP 421, 450, 451, 452), ``PermanentRefusal`` (the provider will
never take this email: SMTP 550-554; it is given up with the reason), or any other error
(retried with backoff, like a dropped connection).

``DjangoEmailSender`` ships: it sends through Django's email backend (``EMAIL_BACKEND``:
SMTP in production, the console locally). ``OUTBOX_SENDER`` names the class to use, so an
HTTP provider (GOV.UK Notify's client, for example) is one class with these three methods
that raises the same two refusals from its own answers (Notify's 429 is a temporary refusal,
a 400 for a bad address a permanent one).
"""

import smtplib
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.module_loading import import_string

#: Answers that ask the sender to slow down or come back later: the whole sender backs off.
TEMPORARY_CODES = frozenset({421, 450, 451, 452})
#: Answers that refuse this email for good (mailbox unknown, policy, too big, rejected).
PERMANENT_CODES = frozenset(range(550, 555))


class Refusal(Exception):
    """The provider answered ``code`` with ``reason`` for one email."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class TemporaryRefusal(Refusal):
    """The provider asks the whole sender to back off (rate or load): nothing is wrong with the email."""


class PermanentRefusal(Refusal):
    """The provider will never accept this email: give it up, with the reason, for support."""


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str
    to: list[str]
    subject: str
    body_text: str
    body_html: str


class Sender(Protocol):
    def open(self) -> None: ...

    def send(self, email: OutgoingEmail) -> None: ...

    def close(self) -> None: ...


def _text(raw) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def refusal_from_smtp(exc: Exception) -> Refusal | None:
    """The refusal an smtplib error stands for, or None (another error: retried with backoff)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        # Every recipient was refused (smtplib raises only then): the first answer speaks for them.
        code, reason = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, reason = exc.smtp_code, exc.smtp_error
    else:
        return None
    if code in TEMPORARY_CODES:
        return TemporaryRefusal(code, _text(reason))
    if code in PERMANENT_CODES:
        return PermanentRefusal(code, _text(reason))
    return None


class DjangoEmailSender:
    """Sends through Django's email backend over one connection (SMTP: one session per batch)."""

    def __init__(self):
        self.connection = get_connection()

    def open(self) -> None:
        # A no-op while open: the connection is kept for the batch.
        self.connection.open()

    def send(self, email: OutgoingEmail) -> None:
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=email.to,
            headers={"Message-ID": email.message_id},
            connection=self.connection,
        )
        if email.body_html:
            message.attach_alternative(email.body_html, "text/html")
        try:
            message.send()
        except Exception as exc:
            refusal = refusal_from_smtp(exc)
            if refusal is None:
                raise
            if isinstance(refusal, TemporaryRefusal) or isinstance(exc, smtplib.SMTPSenderRefused):
                # The session may be in any state after such an answer: the next send starts afresh.
                self.close()
            raise refusal from exc

    def close(self) -> None:
        self.connection.close()


def get_sender() -> Sender:
    return import_string(settings.OUTBOX_SENDER)()
