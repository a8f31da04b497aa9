"""Which rule set governs a cycle (data: effective dates, seeded by migration 0014), and which
of its dates a course follows (winter after September)."""

from datetime import UTC, date, datetime

import pytest

from apps.applications.models import RuleSet, RuleSetCode
from apps.applications.rule_sets import NoRuleSet, end_of_cycle_dates, rule_set_for_cycle, starts_after_september
from tests.factories import make_course, make_cycle

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("opens", "expected"),
    [
        (datetime(2019, 10, 8, 8, 0, tzinfo=UTC), RuleSetCode.RBD_MID_CYCLE),  # before every date: the first set
        (datetime(2022, 10, 11, 8, 0, tzinfo=UTC), RuleSetCode.RBD_MID_CYCLE),  # the 2023 cycle
        (datetime(2023, 9, 30, 22, 30, tzinfo=UTC), RuleSetCode.RBD_MID_CYCLE),  # 23:30 BST on 30 September
        (datetime(2023, 9, 30, 23, 30, tzinfo=UTC), RuleSetCode.END_OF_CYCLE),  # 00:30 BST: 1 October in London
        (datetime(2023, 10, 10, 8, 0, tzinfo=UTC), RuleSetCode.END_OF_CYCLE),  # the 2024 cycle
        (datetime(2031, 10, 7, 8, 0, tzinfo=UTC), RuleSetCode.END_OF_CYCLE),  # until replaced
    ],
)
def test_a_cycle_uses_the_rule_set_in_effect_on_the_day_its_applications_open(opens, expected):
    cycle = make_cycle(year=opens.year + 1, applications_open_date=opens)
    assert rule_set_for_cycle(cycle) == expected


def test_the_rule_sets_are_data_seeded_by_the_migration():
    assert list(RuleSet.objects.values_list("code", "effective_from", "effective_to")) == [
        ("2020-23", None, date(2023, 10, 1)),
        ("2024-on", date(2023, 10, 1), None),
    ]


def test_a_gap_or_an_overlap_between_rule_sets_is_an_error_naming_it():
    cycle = make_cycle(year=2024, applications_open_date=datetime(2023, 10, 10, 8, 0, tzinfo=UTC))
    RuleSet.objects.filter(code="2020-23").update(effective_to=date(2024, 1, 1))
    with pytest.raises(NoRuleSet, match="rule sets 2020-23 and 2024-on are in effect"):
        rule_set_for_cycle(cycle)
    RuleSet.objects.filter(code="2020-23").update(effective_to=date(2023, 10, 1))
    RuleSet.objects.filter(code="2024-on").update(effective_from=date(2023, 11, 1))
    with pytest.raises(NoRuleSet, match="For a cycle opening on 10 October 2023, no rule set is in effect"):
        rule_set_for_cycle(cycle)


@pytest.mark.parametrize(
    ("month", "winter"), [(8, False), (9, False), (10, True), (12, True), (1, True), (7, True)]
)
def test_courses_starting_after_september_follow_the_winter_dates(month, winter):
    cycle, course = make_cycle(year=2026), make_course(start_month=month)
    assert starts_after_september(course) is winter
    dates = end_of_cycle_dates(cycle, course)
    if winter:
        expected = (cycle.winter_reject_by_default_date, cycle.winter_decline_by_default_date)
    else:
        expected = (cycle.reject_by_default_date, cycle.decline_by_default_date)
    assert (dates.reject_by_default, dates.decline_by_default) == expected
