import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.template.loader import render_to_string

from apps.core.enqueue import enqueue_in_on_commit, enqueue_many_on_commit
from apps.outbox.models import OutboxEmail, OutboxStatus

logger = logging.getLogger(__name__)

DELIVERY_BATCH_SIZE = 50
MAX_ATTEMPTS = 10
#: Large fan-outs are staggered: this many delivery batches at once, then the next ones later.
STAGGER_BATCHES = 20
STAGGER_DELAY = timedelta(seconds=10)
#: RQ's scheduler keeps whole seconds, so a delayed job can start up to a second early;
#: delayed delivery jobs start this much later than the email's available_at.
SCHEDULE_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True)
class Email:
    key: str
    to: list[str]
    template: str
    context: dict = field(default_factory=dict)
    delay: timedelta | None = None  # send no earlier than this long after the commit


@dataclass
class DeliveryResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0


def _render(email: Email) -> OutboxEmail:
    context = {**email.context, "service_name": "Apply"}
    row = OutboxEmail(
        key=email.key,
        to=email.to,
        subject=render_to_string(f"emails/{email.template}_subject.txt", context).strip(),
        body_text=render_to_string(f"emails/{email.template}.txt", context),
        body_html=render_to_string(f"emails/{email.template}.html", context),
    )
    if email.delay:
        row.available_at = _db_now_plus(email.delay)
    return row


def _db_now_plus(delta: timedelta):
    return ExpressionWrapper(Now() + delta, output_field=DateTimeField())


def outbox_emails_add(*, emails: list[Email]) -> None:
    """Write emails to the outbox inside the caller's transaction; deliver after commit.

    A key already in the outbox is left as it is (the email was already caused once).
    Delayed emails get a delayed delivery job (RQ's scheduler runs it; it shows in the
    dashboard's scheduled jobs); large fan-outs are staggered in groups of batches.
    """
    if not emails:
        return
    OutboxEmail.objects.bulk_create([_render(email) for email in emails], ignore_conflicts=True)
    delays = {email.key: email.delay for email in emails}
    pending = OutboxEmail.objects.filter(key__in=list(delays), status=OutboxStatus.PENDING).values_list("id", "key")
    by_delay: dict[timedelta | None, list[int]] = {}
    for pk, key in pending:
        by_delay.setdefault(delays[key], []).append(pk)
    for delay, ids in by_delay.items():
        batches = [(ids[i : i + DELIVERY_BATCH_SIZE],) for i in range(0, len(ids), DELIVERY_BATCH_SIZE)]
        for start in range(0, len(batches), STAGGER_BATCHES):
            group = batches[start : start + STAGGER_BATCHES]
            wait = (delay or timedelta(0)) + STAGGER_DELAY * (start // STAGGER_BATCHES)
            if wait:
                for args in group:
                    enqueue_in_on_commit("email", wait + SCHEDULE_MARGIN, "jobs.outbox.outbox_emails_deliver", *args)
            else:
                enqueue_many_on_commit("email", "jobs.outbox.outbox_emails_deliver", group)


def outbox_emails_deliver(*, email_ids: list[int]) -> DeliveryResult:
    """Send each email unless it is sent or leased by someone else; one failure does not stop the rest."""
    result = DeliveryResult()
    for email_id in email_ids:
        token = uuid.uuid4().hex
        claimed = (
            OutboxEmail.objects.filter(pk=email_id, status=OutboxStatus.PENDING, available_at__lte=Now())
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=Now()))
            .update(
                lease_token=token,
                lease_until=_db_now_plus(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)),
                attempts=F("attempts") + 1,
            )
        )
        if not claimed:
            result.skipped += 1
            continue
        email = OutboxEmail.objects.get(pk=email_id)
        try:
            message = EmailMultiAlternatives(
                subject=email.subject,
                body=email.body_text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=email.to,
                headers={"Message-ID": email.message_id},
            )
            if email.body_html:
                message.attach_alternative(email.body_html, "text/html")
            message.send()
        except Exception as exc:
            result.failed += 1
            logger.exception("email %s (%s) not sent, attempt %s", email.pk, email.key, email.attempts)
            # Keep the lease for a backoff so the next sweep retries later; give up after MAX_ATTEMPTS.
            backoff = timedelta(seconds=min(3600, 30 * 2 ** min(email.attempts, 7)))
            OutboxEmail.objects.filter(pk=email_id, lease_token=token).update(
                lease_until=_db_now_plus(backoff),
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                status=OutboxStatus.FAILED if email.attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING,
            )
            continue
        # Only the lease holder marks it sent. A lease that expired mid-send could let a
        # second sender in: that is the bounded at-least-once window, keyed by Message-ID.
        OutboxEmail.objects.filter(pk=email_id, lease_token=token).update(
            status=OutboxStatus.SENT, sent_at=Now(), lease_until=None, last_error=""
        )
        result.sent += 1
        logger.info("email %s sent (%s)", email.pk, email.key)
    return result
