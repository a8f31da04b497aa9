"""Invariant checks: things that must not stay true for long, found hourly and shown to support.

Each check records one ``InvariantFinding`` row per kind (a count of 0 means the invariant
held), so support sees both when the last check ran and what it found; every finding
with a count is also logged at ERROR, for alerting on logs. Rows older than
``RETENTION`` are pruned by the check itself. The latest and recent findings are read
through ``apps.monitoring.selectors``.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction

from apps.applications.selectors import (
    application_ids_in_timed_state_without_deadline,
    overdue_deadlines,
    unsubmitted_after_close,
)
from apps.monitoring.job_registries import failed_job_counts
from apps.monitoring.models import InvariantFinding
from apps.outbox.selectors import OutboxSample, outbox_failed, outbox_stuck

logger = logging.getLogger(__name__)

#: A passed deadline not processed after this is a lagging sweep (the goal is 90 s).
SWEEP_GRACE = timedelta(minutes=5)
#: The daily cycles_close_due entry runs at 00:01; a cycle closed a day ago must be done by now.
CLOSE_CYCLE_GRACE = timedelta(hours=25)
#: An outbox row still pending after this is stuck (delivery is enqueued on commit).
OUTBOX_GRACE = timedelta(minutes=15)
RETENTION = timedelta(days=30)

#: What each kind of finding means, for the support page and the daily report.
DESCRIPTIONS = {
    "overdue_reject_by_default": "Applications past their reject-by-default deadline for more than 5 minutes",
    "overdue_decline_by_default": "Offers past their decline-by-default deadline for more than 5 minutes",
    "overdue_close_cycle": "Unsubmitted applications in a cycle closed more than 25 hours ago",
    "timed_state_without_deadline": "Applications awaiting a decision or holding an offer without a deadline",
    "outbox_stuck": "Emails pending for more than 15 minutes",
    "outbox_failed": "Emails given up after every delivery attempt: never sent (sample_errors says why)",
    "failed_jobs": "Jobs in RQ's failed registries",
}


def _outbox_detail(found: OutboxSample, *, with_errors: bool = False) -> dict:
    if not found.count:
        return {}
    detail = {"oldest_created_at": found.oldest_created_at.isoformat(), "sample_keys": [key for key, _ in found.sample]}
    if with_errors:  # the last error of each, once per distinct error: what support must fix
        detail["sample_errors"] = list(dict.fromkeys(error[:200] for _, error in found.sample))
    return detail


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

    stuck = outbox_stuck(grace=OUTBOX_GRACE)
    findings.append(InvariantFinding(kind="outbox_stuck", count=stuck.count, detail=_outbox_detail(stuck)))
    failed_emails = outbox_failed()
    findings.append(
        InvariantFinding(
            kind="outbox_failed", count=failed_emails.count, detail=_outbox_detail(failed_emails, with_errors=True)
        )
    )

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
