"""Staggered bulk: the bulk emails of one write are spread over ``EMAIL_BULK_WINDOW_SECONDS``.

A chaser sweep writes its reminders in batches of a few hundred, all within seconds; an
end-of-cycle report writes many more. With a window, each write's delivery batches become
due spread over it instead of all at once: batch ``k`` of ``n`` at ``(k + phase) / n`` of the
window, with one random ``phase`` per write, so the many writes of one sweep interleave
rather than landing in step. Each batch's emails are due (``available_at``) when its job is
scheduled, and the outbox sweep waits for them as long (``sweep_after``), so a staggered email
is neither sent early nor mistaken for a lost one. The cap (``apps.outbox.rate``) still sets
the pace once they are due; time-critical emails are never staggered.
"""

import random
from datetime import timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from apps.outbox.models import OutboxEmail, OutboxQueue


def bulk_offsets(*, queue: str, batches: int) -> list[timedelta]:
    """When each of a write's ``batches`` becomes due, after the write (all zero: not staggered)."""
    window = settings.EMAIL_BULK_WINDOW_SECONDS
    if queue != OutboxQueue.BULK or not window:
        return [timedelta(0)] * batches
    phase = random.random()
    return [timedelta(seconds=round(window * (k + phase) / batches, 3)) for k in range(batches)]


def outbox_emails_stagger(*, ids: list[int], offset: timedelta, delay: timedelta, requeue_after: timedelta) -> None:
    """Make ``ids`` due ``delay + offset`` after now (the caller's transaction), the sweep a requeue interval later."""
    def later(delta: timedelta):
        return ExpressionWrapper(Now() + delta, output_field=DateTimeField())

    OutboxEmail.objects.filter(pk__in=ids).update(
        available_at=later(delay + offset), sweep_after=later(delay + offset + requeue_after)
    )
