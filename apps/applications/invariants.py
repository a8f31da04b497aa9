"""Invariant checks: things that must not stay true for long, found hourly and shown to support.

Each check records one ``InvariantFinding`` row per kind (a count of 0 means the invariant
held), so support sees both when the last check ran and what it found; every finding
with a count is also logged at ERROR, for alerting on logs. Rows older than
``RETENTION`` are pruned by the check itself.
"""

import logging
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Count, DateTimeField, ExpressionWrapper, Min
from django.db.models.functions import Now

from apps.applications.models import InvariantFinding
from apps.applications.selectors import (
    application_ids_in_timed_state_without_deadline,
    overdue_deadlines,
    unsubmitted_after_close,
)
from apps.outbox.models import OutboxEmail, OutboxStatus

logger = logging.getLogger(__name__)

#: A passed deadline not processed after this is a lagging sweep (the goal is 90 s).
SWEEP_GRACE = timedelta(minutes=5)
#: The daily close_cycle entry runs at 00:01; a cycle closed a day ago must be done by now.
CLOSE_CYCLE_GRACE = timedelta(hours=25)
#: An outbox row still pending after this is stuck (delivery is enqueued on commit).
OUTBOX_GRACE = timedelta(minutes=15)
RETENTION = timedelta(days=30)
RECENT = timedelta(days=7)

#: What each kind of finding means, for the support page and the daily report.
DESCRIPTIONS = {
    "overdue_reject_by_default": "Applications past their reject-by-default deadline for more than 5 minutes",
    "overdue_decline_by_default": "Offers past their decline-by-default deadline for more than 5 minutes",
    "overdue_close_cycle": "Unsubmitted applications in a cycle closed more than 25 hours ago",
    "timed_state_without_deadline": "Applications awaiting a decision or holding an offer without a deadline",
    "outbox_stuck": "Emails pending for more than 15 minutes",
    "outbox_failed": "Emails that failed after every attempt",
    "failed_jobs": "Jobs in RQ's failed registries",
}


def failed_job_counts() -> dict[str, int]:
    """Jobs in RQ's failed registry, per queue."""
    return {name: django_rq.get_queue(name).failed_job_registry.count for name in settings.RQ_QUEUES}


def _outbox(qs) -> tuple[int, dict]:
    stats = qs.aggregate(count=Count("pk"), oldest=Min("created_at"))
    detail = {}
    if stats["count"]:
        detail = {
            "oldest_created_at": stats["oldest"].isoformat(),
            "sample_keys": list(qs.order_by("created_at").values_list("key", flat=True)[:10]),
        }
    return stats["count"], detail


def _findings(now: datetime) -> list[InvariantFinding]:
    findings = []
    for overdue in overdue_deadlines(grace=SWEEP_GRACE):
        detail = {}
        if overdue.count:
            detail = {
                "oldest_deadline": overdue.oldest.isoformat(),
                "lag_seconds": round(overdue.lag_seconds(now)),
                "sample_ids": overdue.sample_ids,
            }
        findings.append(InvariantFinding(kind=f"overdue_{overdue.rule}", count=overdue.count, detail=detail))

    unsent = unsubmitted_after_close(grace=CLOSE_CYCLE_GRACE)
    detail = {}
    if unsent.count:
        detail = {"oldest_apply_deadline": unsent.oldest.isoformat(), "sample_ids": unsent.sample_ids}
    findings.append(InvariantFinding(kind="overdue_close_cycle", count=unsent.count, detail=detail))

    count, ids = application_ids_in_timed_state_without_deadline()
    detail = {"sample_ids": ids} if count else {}
    findings.append(InvariantFinding(kind="timed_state_without_deadline", count=count, detail=detail))

    stale = ExpressionWrapper(Now() - OUTBOX_GRACE, output_field=DateTimeField())
    pending = OutboxEmail.objects.filter(sweep_after__isnull=False, status=OutboxStatus.PENDING)  # the partial index
    count, detail = _outbox(pending.filter(created_at__lte=stale))
    findings.append(InvariantFinding(kind="outbox_stuck", count=count, detail=detail))
    count, detail = _outbox(OutboxEmail.objects.filter(status=OutboxStatus.FAILED))
    findings.append(InvariantFinding(kind="outbox_failed", count=count, detail=detail))

    failed = failed_job_counts()
    findings.append(
        InvariantFinding(
            kind="failed_jobs",
            count=sum(failed.values()),
            detail={"per_queue": failed} if any(failed.values()) else {},
        )
    )
    for finding in findings:
        finding.checked_at = now
    return findings


def invariants_check(*, now: datetime) -> list[InvariantFinding]:
    """Run every check, store one row per kind, log the broken ones at ERROR, and prune old rows."""
    findings = _findings(now)
    with transaction.atomic():
        InvariantFinding.objects.bulk_create(findings)
        InvariantFinding.objects.filter(checked_at__lt=now - RETENTION).delete()
    for finding in findings:
        if finding.count:
            logger.error(
                "invariant broken: %s: %s (%s)",
                finding.kind,
                finding.count,
                finding.detail,
                extra={"invariant": finding.kind, "count": finding.count},
            )
    return findings


def invariant_findings_latest() -> list[InvariantFinding]:
    """The findings of the most recent check (every kind, broken or not)."""
    latest = InvariantFinding.objects.order_by("-checked_at").values_list("checked_at", flat=True).first()
    if latest is None:
        return []
    return list(InvariantFinding.objects.filter(checked_at=latest).order_by("kind"))


def invariant_findings_recent(*, now: datetime, limit: int = 100) -> list[InvariantFinding]:
    """Broken invariants found in the last week, newest first."""
    return list(InvariantFinding.objects.filter(checked_at__gte=now - RECENT, count__gt=0)[:limit])
