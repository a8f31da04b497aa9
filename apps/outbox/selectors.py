"""Reads of the outbox for support: what is waiting, and how fast it leaves."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, DateTimeField, ExpressionWrapper, Min
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


def outbox_backlog() -> list[OutboxBacklog]:
    """Per delivery queue: due pending emails (a read of the partial pending index) and the last minute's sends."""
    pending = {
        row["queue"]: row
        # sweep_after is set on every email still to send: the filter reads the sweep's partial index.
        for row in OutboxEmail.objects.filter(sweep_after__isnull=False, status=OutboxStatus.PENDING, available_at__lte=Now())
        .values("queue")
        .annotate(n=Count("pk"), oldest=Min("available_at"))
        .order_by()
    }
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
        )
        for queue, label in OutboxQueue.choices
    ]
