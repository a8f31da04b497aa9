"""The Schedule page (support only): the clock's entries, their next and last runs,
pause, resume and run now; and the liveness of clocks and workers."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from rq.worker import Worker

from apps.core.redis import redis_connection
from apps.scheduling.clock_state import HEARTBEAT_STALE_SECONDS, ClockState, clock_liveness, entry_key


def staff_only(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            return render(request, "scheduling/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


@staff_only
@require_safe
def schedule(request):
    now = timezone.now()
    connection = redis_connection()
    workers = sorted(Worker.all(connection=connection), key=lambda worker: worker.name)
    context = {
        "entries": ClockState(connection).overview(now),
        "clock": clock_liveness(connection, now),
        "stale_after": HEARTBEAT_STALE_SECONDS,
        "workers": [
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "pid": worker.pid,
                "queues": ", ".join(worker.queue_names()),
                "state": worker.get_state(),
                "last_heartbeat": worker.last_heartbeat,
            }
            for worker in workers
        ],
        "now": now,
    }
    return render(request, "scheduling/schedule.html", context)


@staff_only
@require_POST
def schedule_entry_action(request, name: str, action: str):
    connection = redis_connection()
    if not connection.exists(entry_key(name)):
        raise Http404(f"No clock entry named {name!r}.")
    state = ClockState(connection)
    if action == "pause":
        state.set_paused(name, True)
        messages.success(request, f"{name} is paused: its ticks pass without a job until you resume it.")
    elif action == "resume":
        state.set_paused(name, False)
        messages.success(request, f"{name} resumed: it runs at its next tick.")
    elif action == "run":
        job_id = state.run_now(name, now=timezone.now(), requested_by=request.user.get_username())
        messages.success(request, f"{name} enqueued now as job {job_id}.")
    else:
        raise Http404(f"Unknown action {action!r}.")
    return redirect("scheduling:schedule")
