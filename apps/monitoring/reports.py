"""The weekday daily report to support: counts by state, how late the sweeps ran, failures.

It goes through the outbox under the key ``report:daily:<London date>``, so a rerun the
same day (a retry, "run now" on the Schedule page, a second clock) sends nothing twice.
Its email templates are the outbox's (``apps/outbox/templates/emails/daily_report.*``).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from apps.applications.models import ApplicationState
from apps.applications.rules import TIMED_RULES
from apps.applications.selectors import application_counts_by_state, overdue_deadlines, timed_transitions_since
from apps.applications.working_days import london_date
from apps.monitoring.job_registries import failed_job_counts
from apps.monitoring.models import InvariantFinding
from apps.monitoring.selectors import invariant_findings_recent
from apps.outbox.models import OutboxQueue
from apps.outbox.selectors import outbox_email_exists
from apps.outbox.services import Email, outbox_emails_add

@dataclass
class SweepLateness:
    rule: str
    processed_last_day: int
    max_late_seconds: float
    overdue_now: int
    lag_seconds: float


@dataclass
class DailyReport:
    day: str
    generated_at: datetime
    counts_by_state: list[tuple[str, int]]
    total: int
    sweeps: list[SweepLateness]
    failed_jobs: dict[str, int]
    findings: list[InvariantFinding] = field(default_factory=list)

    @property
    def failed_jobs_total(self) -> int:
        return sum(self.failed_jobs.values())


def report_key(now: datetime) -> str:
    return f"report:daily:{london_date(now).isoformat()}"


def daily_report_build(*, now: datetime) -> DailyReport:
    counts = application_counts_by_state()
    sweeps = []
    overdue = {item.rule: item for item in overdue_deadlines()}
    for rule in TIMED_RULES:  # the timed transitions, and the deadline each one follows
        kind = rule.kind
        processed = timed_transitions_since(rule=rule, since=now - timedelta(days=1))
        sweeps.append(
            SweepLateness(
                rule=kind,
                processed_last_day=processed.count,
                max_late_seconds=round(processed.max_late_seconds, 1),
                overdue_now=overdue[kind].count,
                lag_seconds=round(overdue[kind].lag_seconds(now)),
            )
        )
    return DailyReport(
        day=london_date(now).isoformat(),
        generated_at=now,
        # States with applications only: a summary of twelve lines, most of them 0, hides the few that matter.
        counts_by_state=[(ApplicationState(state).label, n) for state, n in counts.items() if n],
        total=sum(counts.values()),
        sweeps=sweeps,
        failed_jobs=failed_job_counts(),
        findings=invariant_findings_recent(now=now, limit=20),
    )


def daily_report_send(*, now: datetime) -> bool:
    """Email today's report to support through the outbox; False if today's was already written."""
    key = report_key(now)
    if outbox_email_exists(key=key):
        return False
    report = daily_report_build(now=now)
    with transaction.atomic():
        outbox_emails_add(
            emails=[Email(key=key, to=[settings.SUPPORT_EMAIL], template="daily_report", context={"report": report},
                          queue=OutboxQueue.BULK)]
        )
    return True
