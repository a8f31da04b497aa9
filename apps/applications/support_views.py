"""Support-only pages: the health of the timed rules (invariant findings, sweep lag, failed jobs).

Staff only: anonymous users are sent to log in, everyone else gets 403.
"""

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
from apps.applications.selectors import overdue_deadlines


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


@support_only
@require_safe
def support_health(request):
    now = timezone.now()
    context = {
        "now": now,
        "latest": _described(invariant_findings_latest()),
        "recent": _described(invariant_findings_recent(now=now)),
        "overdue": [(item, round(item.lag_seconds(now))) for item in overdue_deadlines()],
        "failed_jobs": failed_job_counts(),
    }
    return render(request, "applications/support_health.html", context)
