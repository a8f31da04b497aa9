from django.db.models import Q
from django.db.models.functions import Now

from apps.outbox.models import OutboxEmail, OutboxStatus


def outbox_email_ids_due(*, limit: int) -> list[int]:
    """Pending emails that are due and whose lease is free (never claimed, or the claimer died or backed off)."""
    return list(
        OutboxEmail.objects.filter(status=OutboxStatus.PENDING, available_at__lte=Now())
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=Now()))
        .order_by("available_at")
        .values_list("id", flat=True)[:limit]
    )
