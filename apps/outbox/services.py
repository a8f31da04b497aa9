"""Writes to the email outbox, and the handing of each email to its delivery job.

Writing: an email is a row written in the caller's transaction, under a unique key.
``outbox_emails_add`` renders each email as it writes it (a few at a time: a submission,
an offer, a chaser, the daily report). ``outbox_emails_insert`` writes one email per row
of a query in one ``INSERT ... SELECT`` (the timed rules' spike: a batch of applications
becomes a batch of emails without a Python object per email); those rows keep a
``context`` snapshot of plain values and are rendered at delivery.

Delivery jobs are enqueued on commit, with the same retries as every batch job (a job
killed with its worker is retried by RQ, not left failed). Delivering itself:
``apps.outbox.delivery``.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, Q, QuerySet, Value
from django.db.models.functions import Now

from apps.core.enqueue import enqueue_in_on_commit, enqueue_many_on_commit
from apps.core.queueing.batching import retry_with_jitter
from apps.core.sql import insert_from_select
from apps.outbox.delivery import DELIVERY_JOB, MAX_ATTEMPTS, DeliveryResult, outbox_emails_deliver
from apps.outbox.models import OutboxEmail, OutboxQueue, OutboxStatus
from apps.outbox.rendering import email_render, outbox_email_render
from apps.outbox.stagger import bulk_offsets, outbox_emails_stagger

__all__ = ["DeliveryResult", "Email", "MAX_ATTEMPTS", "outbox_email_render", "outbox_emails_add",
           "outbox_emails_deliver", "outbox_emails_insert", "outbox_emails_requeue"]

logger = logging.getLogger(__name__)

#: A single transaction that writes more than this many delivery batches is staggered:
#: this many batches at once, the next ones STAGGER_DELAY later, and so on.
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
    queue: str = OutboxQueue.URGENT


def _db_now_plus(delta: timedelta):
    # Plain Now() when there is nothing to add: on SQLite, Now() + 0 is formatted with more
    # digits than Now(), and as text it would compare later than Now() in the same millisecond.
    return ExpressionWrapper(Now() + delta, output_field=DateTimeField()) if delta else Now()


def _requeue_after() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)


def outbox_emails_add(*, emails: list[Email]) -> None:
    """Write emails to the outbox inside the caller's transaction (rendered now); deliver after commit.

    A key already in the outbox is left as it is (the email was already caused once).
    """
    if not emails:
        return
    rows = []
    for email in emails:
        subject, body_text, body_html = email_render(email.template, email.context)
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
    offsets = bulk_offsets(queue=queue, batches=len(batches))
    if any(offsets):  # bulk spread over its window (apps/outbox/stagger.py)
        for (batch,), offset in zip(batches, offsets):
            outbox_emails_stagger(ids=batch, offset=offset, delay=delay or timedelta(0), requeue_after=_requeue_after())
            enqueue_in_on_commit(queue, (delay or timedelta(0)) + offset + SCHEDULE_MARGIN, DELIVERY_JOB, batch,
                                 retry=retry_with_jitter())
        return
    for start in range(0, len(batches), STAGGER_BATCHES):
        group = batches[start : start + STAGGER_BATCHES]
        wait = (delay or timedelta(0)) + STAGGER_DELAY * (start // STAGGER_BATCHES)
        if wait:
            for args in group:
                enqueue_in_on_commit(queue, wait + SCHEDULE_MARGIN, DELIVERY_JOB, *args, retry=retry_with_jitter())
        else:
            enqueue_many_on_commit(queue, DELIVERY_JOB, group, retry=retry_with_jitter())


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


