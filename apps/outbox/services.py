"""Writes to the email outbox, and delivery.

Writing: an email is a row written in the caller's transaction, under a unique key.
``outbox_emails_add`` renders each email as it writes it (a few at a time: a submission,
an offer, a chaser, the daily report). ``outbox_emails_insert`` writes one email per row
of a query in one ``INSERT ... SELECT`` (the timed rules' spike: a batch of applications
becomes a batch of emails without a Python object per email); those rows keep a
``context`` snapshot of plain values and are rendered at delivery.

Delivering: a job claims a batch of rows in one statement (a lease: token and expiry),
sends them over one SMTP connection with the key as Message-ID, and marks them sent in
small groups, only while it still holds the lease.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Now
from django.template.loader import render_to_string

from apps.core.enqueue import enqueue_in_on_commit, enqueue_many_on_commit
from apps.core.sql import insert_from_select
from apps.core.validators import one_line
from apps.outbox.models import OutboxEmail, OutboxQueue, OutboxStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
#: A single transaction that writes more than this many delivery batches is staggered:
#: this many batches at once, the next ones STAGGER_DELAY later, and so on.
STAGGER_BATCHES = 20
STAGGER_DELAY = timedelta(seconds=10)
#: RQ's scheduler keeps whole seconds, so a delayed job can start up to a second early;
#: delayed delivery jobs start this much later than the email's available_at.
SCHEDULE_MARGIN = timedelta(seconds=2)
DELIVERY_JOB = "jobs.outbox.outbox_emails_deliver"
SUBJECT_MAX_LENGTH = OutboxEmail._meta.get_field("subject").max_length


@dataclass(frozen=True)
class Email:
    key: str
    to: list[str]
    template: str
    context: dict = field(default_factory=dict)
    delay: timedelta | None = None  # send no earlier than this long after the commit
    queue: str = OutboxQueue.URGENT


@dataclass
class DeliveryResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0


def _db_now_plus(delta: timedelta):
    # Plain Now() when there is nothing to add: on SQLite, Now() + 0 is formatted with more
    # digits than Now(), and as text it would compare later than Now() in the same millisecond.
    return ExpressionWrapper(Now() + delta, output_field=DateTimeField()) if delta else Now()


def _requeue_after() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)


def _subject(text: str) -> str:
    """One line whatever the data (a line break in a name made an email unsendable for good:
    BadHeaderError), and no longer than the column (long names made the write fail)."""
    subject = one_line(text)
    return subject if len(subject) <= SUBJECT_MAX_LENGTH else subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"


def _render(template: str, context: dict) -> tuple[str, str, str]:
    context = {**context, "service_name": "Apply"}
    return (
        _subject(render_to_string(f"emails/{template}_subject.txt", context)),
        render_to_string(f"emails/{template}.txt", context),
        render_to_string(f"emails/{template}.html", context),
    )


def outbox_emails_add(*, emails: list[Email]) -> None:
    """Write emails to the outbox inside the caller's transaction (rendered now); deliver after commit.

    A key already in the outbox is left as it is (the email was already caused once).
    """
    if not emails:
        return
    rows = []
    for email in emails:
        subject, body_text, body_html = _render(email.template, email.context)
        delay = email.delay or timedelta(0)
        rows.append(
            OutboxEmail(
                key=email.key,
                to=email.to,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                queue=email.queue,
                available_at=_db_now_plus(delay),
                sweep_after=_db_now_plus(delay + _requeue_after()),
            )
        )
    OutboxEmail.objects.bulk_create(rows, ignore_conflicts=True)
    by_key = {email.key: email for email in emails}
    pending = OutboxEmail.objects.filter(key__in=list(by_key), status=OutboxStatus.PENDING).values_list("id", "key")
    groups: dict[tuple[str, timedelta | None], list[int]] = {}
    for pk, key in pending:
        email = by_key[key]
        groups.setdefault((email.queue, email.delay), []).append(pk)
    for (queue, delay), ids in groups.items():
        _enqueue_delivery_on_commit(queue=queue, ids=ids, delay=delay)


def outbox_emails_insert(
    *, source: QuerySet, key, to, context, template: str, queue: str = OutboxQueue.URGENT, delay: timedelta | None = None
) -> int:
    """Write one email per row of ``source`` in one statement, inside the caller's transaction.

    ``key``, ``to`` (a JSON list) and ``context`` (a JSON object of plain values) are
    expressions over ``source``; the email is rendered from ``template`` and ``context``
    at delivery. Keys already in the outbox are skipped. Returns how many were written;
    their delivery jobs are enqueued after commit.
    """
    delay = delay or timedelta(0)
    ids = insert_from_select(
        OutboxEmail,
        {
            "key": key,
            "to": to,
            "context": context,
            "template": Value(template),
            "queue": Value(str(queue)),
            "status": Value(OutboxStatus.PENDING.value),
            "attempts": Value(0),
            "lease_token": Value(""),
            "subject": Value(""),
            "body_text": Value(""),
            "body_html": Value(""),
            "last_error": Value(""),
            "available_at": _db_now_plus(delay),
            "sweep_after": _db_now_plus(delay + _requeue_after()),
        },
        source,
        unique_field="key",
    )
    _enqueue_delivery_on_commit(queue=queue, ids=ids, delay=delay or None)
    return len(ids)


def _enqueue_delivery_on_commit(*, queue: str, ids: list[int], delay: timedelta | None) -> None:
    size = settings.OUTBOX_BATCH_SIZE
    batches = [(ids[i : i + size],) for i in range(0, len(ids), size)]
    for start in range(0, len(batches), STAGGER_BATCHES):
        group = batches[start : start + STAGGER_BATCHES]
        wait = (delay or timedelta(0)) + STAGGER_DELAY * (start // STAGGER_BATCHES)
        if wait:
            for args in group:
                enqueue_in_on_commit(queue, wait + SCHEDULE_MARGIN, DELIVERY_JOB, *args)
        else:
            enqueue_many_on_commit(queue, DELIVERY_JOB, group)


def outbox_emails_requeue(*, limit: int, queues_busy: set[str] = frozenset()) -> dict[str, list[int]]:
    """Take for the sweep the pending emails whose delivery job was lost; their ids by queue.

    An email is taken once its ``sweep_after`` has passed (its own job had time to send
    it), while no sender holds its lease, and only from queues with no delivery jobs
    waiting (``queues_busy``: a waiting job may be the email's own). Taking it pushes
    ``sweep_after`` on by the requeue interval. So no email is queued twice. (Sweeps never
    overlap: the sweep holds a lease while it runs.)
    """
    rows = list(
        OutboxEmail.objects.filter(sweep_after__lte=Now(), status=OutboxStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=Now()))
        .exclude(queue__in=list(queues_busy))
        .order_by("sweep_after")
        .values_list("pk", "queue")[:limit]
    )
    if not rows:
        return {}
    OutboxEmail.objects.filter(pk__in=[pk for pk, _ in rows]).update(sweep_after=_db_now_plus(_requeue_after()))
    groups: dict[str, list[int]] = {}
    for pk, queue in rows:
        groups.setdefault(queue, []).append(pk)
    return groups


def _claim(email_ids: list[int], token: str) -> list[OutboxEmail]:
    """Lease the deliverable ones among ``email_ids`` in one statement; return them.

    No index but the primary key can serve the statement (the sweep's partial index is on
    ``sweep_after``, which it does not filter on), so its plan does not depend on how many
    emails are pending or on how fresh the table's statistics are.
    """
    OutboxEmail.objects.filter(pk__in=email_ids, status=OutboxStatus.PENDING, available_at__lte=Now()).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=Now())
    ).update(
        lease_token=token,
        lease_until=_db_now_plus(timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)),
        attempts=F("attempts") + 1,
    )
    return list(OutboxEmail.objects.filter(pk__in=email_ids, lease_token=token).order_by("pk"))


def _parse_moments(context: dict) -> dict:
    """Snapshot contexts keep datetimes as ISO text under keys ending in ``_at``; templates get datetimes."""
    parsed = {}
    for key, value in context.items():
        if isinstance(value, dict):
            value = _parse_moments(value)
        elif key.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        parsed[key] = value
    return parsed


def outbox_email_render(email: OutboxEmail) -> tuple[str, str, str]:
    """(subject, text body, HTML body): rendered now from a snapshot, or as rendered when written
    (the subject made one line again: a row may predate the rule)."""
    if email.template:
        return _render(email.template, _parse_moments(email.context))
    return _subject(email.subject), email.body_text, email.body_html


def _message(email: OutboxEmail, connection) -> EmailMultiAlternatives:
    subject, body_text, body_html = outbox_email_render(email)
    message = EmailMultiAlternatives(
        subject=subject,
        body=body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email.to,
        headers={"Message-ID": email.message_id},
        connection=connection,
    )
    if body_html:
        message.attach_alternative(body_html, "text/html")
    return message


class _SentMarks:
    """Marks sent emails in small groups (one UPDATE each), only where the lease is still ours.

    The group is the at-least-once window: an email the SMTP server accepted but that a
    crash left unmarked is sent again later. A group closes at OUTBOX_MARK_SENT_EVERY
    emails or after a second, whichever comes first.
    """

    def __init__(self, token: str):
        self.token = token
        self.ids: list[int] = []
        self.since = time.monotonic()

    def add(self, pk: int) -> None:
        self.ids.append(pk)
        if len(self.ids) >= settings.OUTBOX_MARK_SENT_EVERY or time.monotonic() - self.since >= 1.0:
            self.flush()

    def flush(self) -> None:
        if self.ids:
            OutboxEmail.objects.filter(pk__in=self.ids, lease_token=self.token).update(
                status=OutboxStatus.SENT, sent_at=Now(), lease_until=None, sweep_after=None, last_error=""
            )
        self.ids = []
        self.since = time.monotonic()


def _record_failure(email: OutboxEmail, token: str, exc: Exception) -> None:
    """Keep the lease for a backoff so the sweep retries later; give up after MAX_ATTEMPTS."""
    backoff = timedelta(seconds=min(3600, 30 * 2 ** min(email.attempts, 7)))
    given_up = email.attempts >= MAX_ATTEMPTS
    OutboxEmail.objects.filter(pk=email.pk, lease_token=token).update(
        lease_until=_db_now_plus(backoff),
        sweep_after=None if given_up else _db_now_plus(backoff),
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        status=OutboxStatus.FAILED if given_up else OutboxStatus.PENDING,
    )


def outbox_emails_deliver(*, email_ids: list[int]) -> DeliveryResult:
    """Send the deliverable emails among ``email_ids`` over one SMTP connection.

    Emails sent already or leased by another sender are skipped; one email's failure
    (bad data, a refused recipient) is recorded on it and the rest go on; a dropped
    connection is opened again for the next email.
    """
    token = uuid.uuid4().hex
    claimed = _claim(email_ids, token)
    result = DeliveryResult(skipped=len(email_ids) - len(claimed))
    if not claimed:
        return result
    marks = _SentMarks(token)
    connection = get_connection()
    try:
        for position, email in enumerate(claimed):
            try:
                # Opened once and kept for the batch (open() is a no-op while it is open;
                # send() alone would open and close a connection per email).
                connection.open()
            except Exception as exc:
                # The server cannot be reached: the rest of the batch backs off together
                # instead of trying a connection per email.
                logger.exception("SMTP server unreachable; %s emails back off", len(claimed) - position)
                for waiting in claimed[position:]:
                    _record_failure(waiting, token, exc)
                result.failed += len(claimed) - position
                break
            try:
                _message(email, connection).send()
            except Exception as exc:
                result.failed += 1
                logger.exception("email %s (%s) not sent, attempt %s", email.pk, email.key, email.attempts)
                _record_failure(email, token, exc)
                connection.close()  # the next email starts on a fresh connection
                continue
            marks.add(email.pk)
            result.sent += 1
    finally:
        marks.flush()
        connection.close()
    logger.info("emails sent: %s of %s claimed", result.sent, len(claimed))
    return result
