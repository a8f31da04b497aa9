from apps.applications.models import NonWorkingPeriod, RecruitmentCycle
from apps.applications.working_days import WorkingDayCalendar


def calendar_for_cycle(cycle: RecruitmentCycle) -> WorkingDayCalendar:
    return WorkingDayCalendar(
        non_working_periods=tuple((p.starts_on, p.ends_on) for p in cycle.non_working_periods.all())
    )


def calendars_for_cycle_ids(cycle_ids) -> dict[int, WorkingDayCalendar]:
    """The cycles' calendars in one query of their periods alone (a list's rows do not load their cycle)."""
    periods: dict[int, list] = {cycle_id: [] for cycle_id in cycle_ids}
    rows = NonWorkingPeriod.objects.filter(cycle_id__in=periods).order_by("pk")
    for cycle_id, starts_on, ends_on in rows.values_list("cycle_id", "starts_on", "ends_on"):
        periods[cycle_id].append((starts_on, ends_on))
    return {cycle_id: WorkingDayCalendar(non_working_periods=tuple(spans)) for cycle_id, spans in periods.items()}
