"""Jobs that watch the service: the hourly invariant checks and the weekday report to support."""

import logging

from django.utils import timezone

from apps.monitoring import invariants, reports

logger = logging.getLogger(__name__)


def invariants_check() -> dict:
    """Hourly: record the invariant findings (the broken ones are logged at ERROR by the service)."""
    findings = invariants.invariants_check(now=timezone.now())
    return {finding.kind: finding.count for finding in findings}


def daily_report_send() -> dict:
    """Weekdays 08:00: email today's report to support (once per London day, whatever reruns)."""
    sent = reports.daily_report_send(now=timezone.now())
    logger.info("daily_report_send: %s", "written to the outbox" if sent else "already written today")
    return {"written": sent}
