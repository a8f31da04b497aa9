"""Reads of the outbox for support and monitoring: what is waiting, how fast it leaves, what is stuck."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, DateTimeField, ExpressionWrapper, Max, Min
from django.db.models.functions import Now

from apps.outbox.models import OutboxEmail, OutboxQueue, OutboxStatus


@dataclass(frozen=True)
class OutboxBacklog:
    """Emails of one queue that are due and not sent yet, and how many were sent in the last minute."""

    queue: str
    label: str
    pending: int
    oldest_available_at: datetime | None
    sent_last_minute: int
    #: Pending but not due yet (held back, or bulk staggered over its window), and the last one's due time.
    due_later: int = 0
    last_available_at: datetime | None = None


def _pending_per_queue(*, due: bool, **aggregates) -> dict[str, dict]:
    """Pending emails due now (or not yet), per queue with any, with ``n`` and ``aggregates``.

    sweep_after is set on every email still to send: the filter reads the sweep's partial
    index, whose size follows the emails to send, not the table (the metrics scrape reads
    this every 15 s).
    """
    when = {"available_at__lte" if due else "available_at__gt": Now()}
    pending = OutboxEmail.objects.filter(sweep_after__isnull=False, status=OutboxStatus.PENDING, **when)
    return {row["queue"]: row for row in pending.values("queue").annotate(n=Count("pk"), **aggregates).order_by()}


def outbox_pending_by_queue() -> dict[str, dict]:
    """Per queue with any: ``{"n": due pending emails, "oldest": the oldest one's available_at}``."""
    return _pending_per_queue(due=True, oldest=Min("available_at"))


def outbox_pending_later_by_queue() -> dict[str, dict]:
    """Per queue with any: ``{"n": pending emails not due yet, "last": the last one's available_at}``."""
    return _pending_per_queue(due=False, last=Max("available_at"))


def outbox_backlog() -> list[OutboxBacklog]:
    """Per delivery queue: due pending emails (a read of the partial pending index), those due
    later, and the last minute's sends."""
    pending = outbox_pending_by_queue()
    later = outbox_pending_later_by_queue()
    minute_ago = ExpressionWrapper(Now() - timedelta(minutes=1), output_field=DateTimeField())
    sent = dict(
        OutboxEmail.objects.filter(status=OutboxStatus.SENT, sent_at__gte=minute_ago)
        .values("queue")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("queue", "n")
    )
    return [
        OutboxBacklog(
            queue=queue,
            label=label,
            pending=pending.get(queue, {}).get("n", 0),
            oldest_available_at=pending.get(queue, {}).get("oldest"),
            sent_last_minute=sent.get(queue, 0),
            due_later=later.get(queue, {}).get("n", 0),
            last_available_at=later.get(queue, {}).get("last"),
        )
        for queue, label in OutboxQueue.choices
    ]


@dataclass(frozen=True)
class OutboxSample:
    """Emails matching a check: how many, the oldest one's creation, and the oldest few's keys
    with their last error (oldest first)."""

    count: int
    oldest_created_at: datetime | None
    sample: list[tuple[str, str]]


SAMPLE_SIZE = 10


def _sample(qs) -> OutboxSample:
    stats = qs.aggregate(count=Count("pk"), oldest=Min("created_at"))
    sample = list(qs.order_by("created_at").values_list("key", "last_error")[:SAMPLE_SIZE]) if stats["count"] else []
    return OutboxSample(count=stats["count"], oldest_created_at=stats["oldest"], sample=sample)


def outbox_stuck(*, grace: timedelta) -> OutboxSample:
    """Emails still pending more than ``grace`` after they were written (by the database's
    clock; delivery is enqueued on commit, so these were lost or keep failing)."""
    stale = ExpressionWrapper(Now() - grace, output_field=DateTimeField())
    pending = OutboxEmail.objects.filter(sweep_after__isnull=False, status=OutboxStatus.PENDING)  # the partial index
    return _sample(pending.filter(created_at__lte=stale))


def outbox_failed() -> OutboxSample:
    """Emails given up after every delivery attempt: never sent."""
    return _sample(OutboxEmail.objects.filter(status=OutboxStatus.FAILED))


def outbox_email_exists(*, key: str) -> bool:
    """Whether an email with this idempotency key was ever written (sent or not)."""
    return OutboxEmail.objects.filter(key=key).exists()


def outbox_emails_unfinished(*, ids: list[int]) -> set[int]:
    """Those of ``ids`` still to send (pending): a failed delivery job whose emails are all
    sent (or given up, reported on their own) healed itself."""
    return set(OutboxEmail.objects.filter(pk__in=ids, status=OutboxStatus.PENDING).values_list("pk", flat=True))


def email_cap_per_second() -> float:
    """The provider cap every sender shares, per second (0: no cap)."""
    from apps.outbox.rate import interval_seconds

    interval = interval_seconds()
    return 1 / interval if interval else 0.0


def email_bulk_cap_per_second() -> float:
    """The most bulk senders may take of the cap, per second (``EMAIL_BULK_MAX_PERCENT``; 0: no cap)."""
    from django.conf import settings

    return email_cap_per_second() * settings.EMAIL_BULK_MAX_PERCENT / 100


def email_budget_left(*, now) -> int | None:
    """Sends left in today's budget (UTC day), or None without a budget. Reads Redis."""
    from django.conf import settings

    from apps.outbox.rate import day_sent

    if not settings.EMAIL_DAILY_BUDGET:
        return None
    return max(0, settings.EMAIL_DAILY_BUDGET - day_sent(now))

