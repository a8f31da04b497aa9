"""Which rule set governs a cycle, and which of its dates a course's applications follow.

The rule sets themselves are code (``RuleSetCode``); when each one governs is data
(``RuleSet`` rows with effective dates). A cycle uses the set whose effective dates hold the
day its applications open, in London. The rules of the 2024-on set land on top of this
(issue 20, item 2): until then ``rules.py`` applies the 2020-23 rules to every cycle.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from apps.applications.errors import DomainError
from apps.applications.models import Course, RecruitmentCycle, RuleSet, RuleSetCode
from apps.applications.working_days import london_date

#: Courses starting in these months start "after September" (October to July of the next
#: year) and use the cycle's winter dates; August and September starts use the summer ones.
WINTER_START_MONTHS = frozenset((10, 11, 12, 1, 2, 3, 4, 5, 6, 7))


class NoRuleSet(DomainError):
    pass


def rule_set_for_opening(opens_at: datetime) -> RuleSetCode:
    """The rule set of a cycle whose applications open at ``opens_at``; NoRuleSet if none or several cover it."""
    day = london_date(opens_at)
    covering = RuleSet.objects.filter(
        Q(effective_from__isnull=True) | Q(effective_from__lte=day),
        Q(effective_to__isnull=True) | Q(effective_to__gt=day),
    )
    codes = list(covering.values_list("code", flat=True)[:2])
    if len(codes) != 1:
        found = "no rule set is" if not codes else f"rule sets {' and '.join(codes)} are"
        raise NoRuleSet(f"For a cycle opening on {day.day} {day:%B %Y}, {found} in effect: check the rule sets' dates.")
    return RuleSetCode(codes[0])


def rule_set_for_cycle(cycle: RecruitmentCycle) -> RuleSetCode:
    """The rule set that governs ``cycle``, by the day its applications open."""
    return rule_set_for_opening(cycle.applications_open_date)


def starts_after_september(course: Course) -> bool:
    return course.start_month in WINTER_START_MONTHS


@dataclass(frozen=True)
class EndOfCycleDates:
    reject_by_default: datetime
    decline_by_default: datetime


def end_of_cycle_dates(cycle: RecruitmentCycle, course: Course) -> EndOfCycleDates:
    """The reject- and decline-by-default dates a course's applications follow: winter after September."""
    if starts_after_september(course):
        return EndOfCycleDates(cycle.winter_reject_by_default_date, cycle.winter_decline_by_default_date)
    return EndOfCycleDates(cycle.reject_by_default_date, cycle.decline_by_default_date)
