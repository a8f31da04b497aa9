from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxEmail(models.Model):
    """One email, written in the same transaction as the change that causes it.

    ``key`` names the email's reason (``rbd:candidate:<application id>``) and is unique,
    so a retried or concurrent writer cannot queue the same email twice; it is also sent
    as the Message-ID. Delivery claims the row with a lease (``lease_token`` until
    ``lease_until``), sends, then marks it sent only if it still holds the lease.
    """

    key = models.CharField(max_length=200, unique=True)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    # Not sent before this (a delayed email, e.g. the candidate's a minute after the provider's).
    available_at = models.DateTimeField(db_default=Now())
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["available_at"], condition=Q(status="pending"), name="outbox_pending_available"),
        ]

    def __str__(self):
        return f"{self.key} ({self.status})"

    @property
    def message_id(self) -> str:
        from django.conf import settings

        local_part = "".join(ch if ch.isalnum() or ch in "-_" else "." for ch in self.key)
        return f"<{local_part}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
