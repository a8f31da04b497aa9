"""Support-only pages: the health of the timed rules (invariant findings, sweep lag, failed jobs).

Staff only: anonymous users are sent to log in, everyone else gets 403.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from apps.applications.invariants import (
    DESCRIPTIONS,
    failed_job_counts,
    invariant_findings_latest,
    invariant_findings_recent,
)
from apps.applications.selectors import Overdue, overdue_deadlines, timed_transitions_last_minute
from apps.outbox.selectors import outbox_backlog


def support_only(view):
    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Support users only.")
        return view(request, *args, **kwargs)

    return wrapped


def _described(findings):
    return [(finding, DESCRIPTIONS.get(finding.kind, finding.kind)) for finding in findings]


@dataclass(frozen=True)
class Drain:
    """A backlog and how fast it goes: per rule, and per email queue, over the last minute."""

    name: str
    backlog: int
    oldest: datetime | None
    done_last_minute: int

    @property
    def per_second(self) -> float:
        return self.done_last_minute / 60

    @property
    def seconds_to_empty(self) -> int | None:
        """Expected time to empty at the last minute's rate; None while nothing drains."""
        if not self.backlog:
            return 0
        return round(self.backlog / self.per_second) if self.done_last_minute else None


def _drains(overdue: list[Overdue]) -> list[Drain]:
    done = timed_transitions_last_minute()
    rules = [Drain(item.rule, item.count, item.oldest, done[item.rule]) for item in overdue]
    emails = [
        Drain(f"emails: {item.label.lower()}", item.pending, item.oldest_available_at, item.sent_last_minute)
        for item in outbox_backlog()
    ]
    return rules + emails


@support_only
@require_safe
def support_health(request):
    now = timezone.now()
    overdue = overdue_deadlines()  # a count over what is due: read once for both tables
    context = {
        "now": now,
        "drains": [
            (drain, round((now - drain.oldest).total_seconds()) if drain.oldest else 0) for drain in _drains(overdue)
        ],
        "latest": _described(invariant_findings_latest()),
        "recent": _described(invariant_findings_recent(now=now)),
        "overdue": [(item, round(item.lag_seconds(now))) for item in overdue],
        "failed_jobs": failed_job_counts(),
    }
    return render(request, "applications/support_health.html", context)
