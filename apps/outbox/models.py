from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxQueue(models.TextChoices):
    """The RQ queue that delivers an email: workers take ``email`` before ``email_bulk``."""

    URGENT = "email", "Urgent (decisions and deadlines)"
    BULK = "email_bulk", "Bulk (reminders and reports)"


class OutboxEmail(models.Model):
    """One email, written in the same transaction as the change that causes it.

    ``key`` names the email's reason (``rbd:candidate:<application id>``) and is unique,
    so a retried or concurrent writer cannot queue the same email twice; it is also sent
    as the Message-ID. Delivery claims the row with a lease (``lease_token`` until
    ``lease_until``), sends, then marks it sent only if it still holds the lease.

    An email is either rendered when written (``subject``/``body_*`` filled) or, for the
    set-based writers of a spike, stored as ``template`` plus a ``context`` snapshot of
    plain values taken in the same statement, and rendered at delivery.
    """

    key = models.CharField(max_length=200, unique=True)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Rendered at delivery from these when set (see the class docstring).
    template = models.CharField(max_length=100, blank=True)
    context = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=16, choices=OutboxQueue.choices, default=OutboxQueue.URGENT)
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    # Not sent before this (a delayed email, e.g. the candidate's a minute after the provider's).
    available_at = models.DateTimeField(db_default=Now())
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When the safety-net sweep may (re)queue this email's delivery: a while after it became
    # available (its on-commit delivery job normally sends it before that), or after a
    # failed attempt's backoff. Each sweep pushes it on, so no email is queued twice.
    # Empty once the email needs no more attempts (sent, or failed for good).
    sweep_after = models.DateTimeField(null=True, db_default=Now())

    class Meta:
        indexes = [
            # The sweep reads only the emails it may requeue: cost follows those, not the table.
            # Its predicate is on sweep_after, not status, on purpose: the delivery claim filters
            # on status, and with stale statistics PostgreSQL chose a status-partial index for it
            # and walked every pending row (200,000) instead of looking up the batch's ids.
            models.Index(
                fields=["sweep_after"], condition=Q(sweep_after__isnull=False), name="outbox_pending_sweep"
            ),
            # Support's drain rate: emails sent in the last minute.
            models.Index(fields=["sent_at"], condition=Q(status="sent"), name="outbox_sent_at"),
            # The hourly check's emails given up for good (count, oldest, a sample): few rows, read
            # without scanning the sent ones.
            models.Index(fields=["created_at"], condition=Q(status="failed"), name="outbox_failed"),
        ]

    def __str__(self):
        return f"{self.key} ({self.status})"

    @property
    def message_id(self) -> str:
        from django.conf import settings

        local_part = "".join(ch if ch.isalnum() or ch in "-_" else "." for ch in self.key)
        return f"<{local_part}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
