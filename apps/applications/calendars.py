from apps.applications.models import RecruitmentCycle
from apps.applications.working_days import WorkingDayCalendar


def calendar_for_cycle(cycle: RecruitmentCycle) -> WorkingDayCalendar:
    return WorkingDayCalendar(
        non_working_periods=tuple((p.starts_on, p.ends_on) for p in cycle.non_working_periods.all())
    )
