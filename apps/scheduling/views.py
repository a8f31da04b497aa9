"""The Schedule page (support only): a table of the clock's entries (the rules people care
about first), their next and last runs, pause (after a confirmation), resume and run now;
each entry's details below; and the liveness of clocks and workers. The page refreshes
its figures every few seconds, so a "Run now" shows its job's progress until it finishes."""

from datetime import datetime

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from rq.worker import Worker

from apps.applications.auth import support_required
from apps.core.redis import redis_connection
from apps.scheduling.clock_state import HEARTBEAT_STALE_SECONDS, ClockState, clock_liveness, entry_key
from apps.scheduling.timetable import entry_title

#: Shown first, in this order: the rules that decide applications (reject and decline by
#: default), then the emails they cause. The others follow by name. Entries are named after
#: the jobs they run (clock.py).
FIRST = ("applications_reject_due", "applications_decline_due", "outbox_emails_deliver_due")
#: How often the page refreshes its figures (seconds).
REFRESH_SECONDS = 5
#: A job in one of these states has not finished: the page says it is in progress.
IN_PROGRESS = {"queued", "started", "deferred", "scheduled"}


def _ordered(entries: list[dict]) -> list[dict]:
    def key(entry):
        name = entry["name"]
        return (FIRST.index(name), "") if name in FIRST else (len(FIRST), name)

    return sorted(entries, key=key)


def _with_times(entry: dict) -> dict:
    """Each run's tick as a datetime (the page shows it in UK time with its zone), and the last run."""
    for run in entry["runs"]:
        try:
            run["at"] = datetime.fromisoformat(run["tick"])
        except (KeyError, TypeError, ValueError):
            run["at"] = None
        run["in_progress"] = run.get("status") in IN_PROGRESS
    entry["last_run"] = entry["runs"][0] if entry["runs"] else None
    return entry


def _schedule_context(now: datetime) -> dict:
    connection = redis_connection()
    workers = sorted(Worker.all(connection=connection), key=lambda worker: worker.name)
    entries = [_with_times(entry) for entry in _ordered(ClockState(connection).overview(now))]
    return {
        "entries": entries,
        "clock": clock_liveness(connection, now),
        "stale_after": HEARTBEAT_STALE_SECONDS,
        "workers": [
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "pid": worker.pid,
                "queues": ", ".join(worker.queue_names()),
                "state": worker.get_state(),
                "current_job": worker.get_current_job_id(),
                "last_heartbeat": worker.last_heartbeat,
            }
            for worker in workers
        ],
        "in_progress": any(entry["last_run"] and entry["last_run"]["in_progress"] for entry in entries),
        "now": now,
        "refresh_seconds": REFRESH_SECONDS,
    }


@support_required
@require_safe
def schedule(request):
    return render(request, "scheduling/schedule.html", _schedule_context(timezone.now()))


@support_required
@require_safe
def schedule_live(request):
    """The Schedule page's figures alone, for the page to refresh itself."""
    return render(request, "scheduling/schedule_live.html", _schedule_context(timezone.now()))


def _entry(connection, name: str) -> dict:
    why, title = connection.hmget(entry_key(name), "why", "title")
    if why is None and not connection.exists(entry_key(name)):
        raise Http404(f"No clock entry named {name!r}.")
    return {
        "name": name,
        "title": title.decode() if title else entry_title(name),
        "why": why.decode() if why else "",
    }


@support_required
@require_http_methods(["GET", "POST"])
def schedule_entry_pause(request, name: str):
    """GET asks for confirmation; POST pauses. A paused entry's ticks pass without a job."""
    connection = redis_connection()
    entry = _entry(connection, name)
    if request.method != "POST":
        return render(request, "scheduling/pause_confirm.html", {"entry": entry})
    ClockState(connection).set_paused(name, True)
    messages.success(request, f"{name} paused. It stays paused until someone resumes it here.")
    return redirect("scheduling:schedule")


@support_required
@require_POST
def schedule_entry_action(request, name: str, action: str):
    connection = redis_connection()
    _entry(connection, name)
    state = ClockState(connection)
    if action == "resume":
        state.set_paused(name, False)
        messages.success(request, f"{name} resumed: it runs at its next tick.")
    elif action == "run":
        job_id = state.run_now(name, now=timezone.now(), requested_by=request.user.get_username())
        messages.success(
            request,
            f"{name} enqueued now as job {job_id}. Its status in the table below updates by itself until it finishes.",
        )
    else:
        raise Http404(f"Unknown action {action!r}.")
    return redirect("scheduling:schedule")
