"""Each cycle's working-day calendar: its non-working periods.

What a deadline *is* is always computed from the periods as they are in the database
(``calendar_for_cycle``: services, sweeps, the recalculation job). What a page *says* about
the time left (“12 working days”) uses ``calendars_for_cycle_ids``, which a web process keeps
for ``DISPLAY_CALENDAR_SECONDS``: one query fewer on every list page. A change to a cycle or
its periods clears the copy of the process that made it at once (signals below); other
processes show the new count within ``DISPLAY_CALENDAR_SECONDS``. The deadlines themselves
are stored on each application and bind at the instant, whatever a page's words.
"""

import time

from django.db.models.signals import post_delete, post_save

from apps.applications.models import NonWorkingPeriod, RecruitmentCycle
from apps.applications.working_days import WorkingDayCalendar

#: How long a process reuses a cycle's calendar for the words of its pages.
DISPLAY_CALENDAR_SECONDS = 30.0

_display_calendars: dict[int, tuple[float, WorkingDayCalendar]] = {}


def calendar_for_cycle(cycle: RecruitmentCycle) -> WorkingDayCalendar:
    return WorkingDayCalendar(
        non_working_periods=tuple((p.starts_on, p.ends_on) for p in cycle.non_working_periods.all())
    )


def _read_calendars(cycle_ids) -> dict[int, WorkingDayCalendar]:
    periods: dict[int, list] = {cycle_id: [] for cycle_id in cycle_ids}
    rows = NonWorkingPeriod.objects.filter(cycle_id__in=periods).order_by("pk")
    for cycle_id, starts_on, ends_on in rows.values_list("cycle_id", "starts_on", "ends_on"):
        periods[cycle_id].append((starts_on, ends_on))
    return {cycle_id: WorkingDayCalendar(non_working_periods=tuple(spans)) for cycle_id, spans in periods.items()}


def calendars_for_cycle_ids(cycle_ids) -> dict[int, WorkingDayCalendar]:
    """The cycles' calendars for a page's words: kept per process for DISPLAY_CALENDAR_SECONDS,
    the missing ones read in one query of their periods alone (a list's rows do not load their cycle)."""
    now = time.monotonic()
    found, missing = {}, []
    for cycle_id in cycle_ids:
        kept = _display_calendars.get(cycle_id)
        if kept is not None and now - kept[0] < DISPLAY_CALENDAR_SECONDS:
            found[cycle_id] = kept[1]
        else:
            missing.append(cycle_id)
    if missing:
        read = _read_calendars(missing)
        _display_calendars.update((cycle_id, (now, calendar)) for cycle_id, calendar in read.items())
        found.update(read)
    return found


def forget_display_calendars(**_kwargs) -> None:
    """Drop this process's kept calendars (a cycle or a period changed here; tests between cases)."""
    _display_calendars.clear()


for _model in (NonWorkingPeriod, RecruitmentCycle):
    post_save.connect(forget_display_calendars, sender=_model, dispatch_uid=f"calendars-{_model.__name__}-save")
    post_delete.connect(forget_display_calendars, sender=_model, dispatch_uid=f"calendars-{_model.__name__}-delete")
