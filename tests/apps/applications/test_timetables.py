"""The timetable services: a cycle's dates validated in order, every edit audited in its own
transaction, and the live deadlines recalculated when a date they are computed from moves."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.errors import DomainError
from apps.applications.models import Course, CycleChange, RecruitmentCycle, RuleSet
from apps.applications.models.cycles import CYCLE_DATE_FIELDS
from apps.applications.timetables import course_start_month_set, cycle_create, cycle_update
from tests.apps.applications.recalculation import (
    SUBMITTED,
    SUPPORT,
    live_applications,  # noqa: F401 (a fixture)
    recalculation_jobs,
    run_queued_jobs,
)
from tests.factories import make_application, make_course, make_cycle, make_user

pytestmark = pytest.mark.django_db


def _dates(year: int, **changes) -> dict:
    """A 2024-on timetable for ``year`` (the real service's gaps), with ``changes``."""
    dates = {
        "applications_open_date": datetime(year - 1, 10, 8, 8, 0, tzinfo=UTC),
        "apply_deadline": datetime(year, 9, 16, 17, 0, tzinfo=UTC),
        "reject_by_default_date": datetime(year, 9, 24, 22, 59, 59, tzinfo=UTC),
        "decline_by_default_date": datetime(year, 9, 30, 22, 59, 59, tzinfo=UTC),
        "next_cycle_opens_date": datetime(year, 10, 7, 8, 0, tzinfo=UTC),
        "winter_reject_by_default_date": datetime(year, 12, 10, 23, 59, 59, tzinfo=UTC),
        "winter_decline_by_default_date": datetime(year, 12, 17, 23, 59, 59, tzinfo=UTC),
    }
    return {**dates, **changes}


def test_a_cycle_is_created_with_its_timetable_and_the_creation_is_audited():
    support = make_user(username="sam", is_staff=True)
    cycle = cycle_create(actor=Actor(user=support), year=2026, **_dates(2026))
    assert cycle.dates() == _dates(2026)
    change = CycleChange.objects.get()
    assert (change.cycle, change.kind, change.actor_user, change.before) == (
        cycle, CycleChange.Kind.CYCLE_CREATED, support, {}
    )
    assert change.after == {"year": 2026, **{name: value.isoformat() for name, value in _dates(2026).items()}}
    assert change.actor_label == "sam"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"apply_deadline": datetime(2025, 10, 1, tzinfo=UTC)},
         {"apply_deadline": ["Must be after the applications open (8 October 2025, 09:00 BST)."]}),
        ({"decline_by_default_date": datetime(2026, 9, 24, 22, 59, 59, tzinfo=UTC)},
         {"decline_by_default_date": ["Must be after the reject by default date (24 September 2026, 23:59 BST)."]}),
        ({"reject_by_default_date": datetime(2026, 10, 8, tzinfo=UTC)},
         {"decline_by_default_date": ["Must be after the reject by default date (8 October 2026, 01:00 BST)."]}),
        ({"next_cycle_opens_date": datetime(2026, 9, 1, tzinfo=UTC),
          "winter_decline_by_default_date": datetime(2026, 12, 1, tzinfo=UTC)},
         {"next_cycle_opens_date": ["Must be after the decline by default date (30 September 2026, 23:59 BST)."],
          "winter_decline_by_default_date": [
              "Must be after the winter reject-by-default date (10 December 2026, 23:59 GMT)."]}),
    ],
    ids=["deadline-before-opening", "dbd-equal-to-rbd", "rbd-after-dbd", "two-wrong-fields"],
)
def test_dates_out_of_order_are_refused_on_each_wrong_field_and_nothing_is_written(changes, errors):
    with pytest.raises(ValidationError) as refused:
        cycle_create(actor=SUPPORT, year=2026, **_dates(2026, **changes))
    assert refused.value.message_dict == errors
    assert not RecruitmentCycle.objects.exists()
    assert not CycleChange.objects.exists()

    cycle = cycle_create(actor=SUPPORT, year=2026, **_dates(2026))
    with pytest.raises(ValidationError):
        cycle_update(cycle_id=cycle.pk, actor=SUPPORT, **changes)
    assert RecruitmentCycle.objects.get().dates() == _dates(2026)
    assert CycleChange.objects.count() == 1  # the creation only


def test_a_cycle_needs_every_date_and_knows_no_other_field():
    with pytest.raises(TypeError, match="needs winter_decline_by_default_date"):
        dates = _dates(2026)
        del dates["winter_decline_by_default_date"]
        cycle_create(actor=SUPPORT, year=2026, **dates)
    cycle = make_cycle()
    with pytest.raises(TypeError, match="unknown fields rbd"):
        cycle_update(cycle_id=cycle.pk, actor=SUPPORT, rbd=datetime(2027, 9, 1, tzinfo=UTC))
    with pytest.raises(DomainError, match="Recruitment cycle 999999 does not exist"):
        cycle_update(cycle_id=999999, actor=SUPPORT, year=2030)


def test_a_cycle_no_rule_set_covers_is_refused_on_its_opening_date():
    RuleSet.objects.filter(code="2024-on").update(effective_from=datetime(2024, 6, 1).date())
    with pytest.raises(ValidationError) as refused:
        cycle_create(actor=SUPPORT, year=2024, **_dates(2024))  # opens 8 October 2023: in the gap
    assert refused.value.message_dict == {
        "applications_open_date": ["For a cycle opening on 8 October 2023, no rule set is in effect: "
                                   "check the rule sets' dates."]
    }
    assert not RecruitmentCycle.objects.exists()


def test_an_unchanged_save_records_nothing_and_recalculates_nothing(live_applications,
                                                                   django_capture_on_commit_callbacks):
    cycle, *_ = live_applications
    with django_capture_on_commit_callbacks(execute=True):
        assert cycle_update(cycle_id=cycle.pk, actor=SUPPORT, **cycle.dates()) is False
    assert not CycleChange.objects.exists()
    assert recalculation_jobs() == []


def test_moving_the_reject_by_default_date_moves_the_capped_deadlines(
    live_applications, django_capture_on_commit_callbacks
):
    """The cap (the only date today's rules read into a live deadline) moves to 1 April: the
    application submitted on 10 March now falls due then, before its 20th working day."""
    cycle, awaiting, offer, *_ = live_applications
    cap = datetime(2027, 4, 1, 22, 59, 59, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert cycle_update(
            cycle_id=cycle.pk, actor=SUPPORT, applications_open_date=datetime(2026, 10, 1, 8, tzinfo=UTC),
            apply_deadline=datetime(2027, 3, 31, 16, tzinfo=UTC), reject_by_default_date=cap,
        )
    run_queued_jobs()
    awaiting.refresh_from_db()
    assert awaiting.reject_by_default_at == cap  # before the 20th working day: the cap binds
    change = CycleChange.objects.get()
    assert (change.kind, change.recalculated) == (CycleChange.Kind.CYCLE_CHANGED, True)
    assert change.after["reject_by_default_date"] == cap.isoformat()


def test_moving_a_date_no_live_deadline_reads_records_it_and_recalculates_nothing(live_applications,
                                                                                  django_capture_on_commit_callbacks):
    cycle, *_ = live_applications
    later = {name: getattr(cycle, name) + timedelta(days=1) for name in CYCLE_DATE_FIELDS
             if name not in ("applications_open_date", "apply_deadline", "reject_by_default_date")}
    with django_capture_on_commit_callbacks(execute=True):
        assert cycle_update(cycle_id=cycle.pk, actor=SUPPORT, **later) is False
    assert recalculation_jobs() == []
    change = CycleChange.objects.get()
    assert set(change.before) == set(later) and not change.recalculated


def test_the_audit_row_shares_the_edits_transaction():
    cycle = make_cycle()
    with pytest.raises(RuntimeError), transaction.atomic():
        cycle_update(cycle_id=cycle.pk, actor=SUPPORT, year=2031)
        assert CycleChange.objects.filter(cycle=cycle).exists()
        raise RuntimeError("the request fails after the service")
    assert RecruitmentCycle.objects.get(pk=cycle.pk).year == cycle.year
    assert not CycleChange.objects.exists()


def test_a_courses_start_month_is_set_through_its_service():
    course = make_course()
    assert course.start_month == 9
    course_start_month_set(course_id=course.pk, start_month=1)
    assert Course.objects.get(pk=course.pk).start_month == 1
    with pytest.raises(ValidationError):
        course_start_month_set(course_id=course.pk, start_month=13)
    assert Course.objects.get(pk=course.pk).start_month == 1


def test_submission_reads_the_moved_cap_too(live_applications):
    """A candidate submitting after the cap moved gets the new cap (the services read the cycle's row)."""
    cycle, *_ = live_applications
    cap = datetime(2027, 4, 1, 22, 59, 59, tzinfo=UTC)
    cycle_update(cycle_id=cycle.pk, actor=SUPPORT, apply_deadline=datetime(2027, 3, 31, 16, tzinfo=UTC),
                 applications_open_date=datetime(2026, 10, 1, 8, tzinfo=UTC), reject_by_default_date=cap)
    application = make_application(cycle=RecruitmentCycle.objects.get(pk=cycle.pk))
    services.application_submit(application_id=application.pk, actor=Actor(), now=SUBMITTED + timedelta(days=1))
    application.refresh_from_db()
    assert application.reject_by_default_at == cap
