"""Reads of what monitoring recorded: the invariant findings."""

from datetime import datetime, timedelta

from apps.monitoring.models import InvariantFinding

#: How far back the Health page and the daily report list broken invariants.
RECENT = timedelta(days=7)


def invariant_findings_latest() -> list[InvariantFinding]:
    """The findings of the most recent check (every kind, broken or not)."""
    latest = InvariantFinding.objects.order_by("-checked_at").values_list("checked_at", flat=True).first()
    if latest is None:
        return []
    return list(InvariantFinding.objects.filter(checked_at=latest).order_by("kind"))


def invariant_findings_recent(*, now: datetime, limit: int = 100) -> list[InvariantFinding]:
    """Broken invariants found in the last week, newest first."""
    return list(InvariantFinding.objects.filter(checked_at__gte=now - RECENT, count__gt=0)[:limit])
