from datetime import UTC, date, datetime, timedelta

import pytest

from apps.applications.working_days import (
    LONDON,
    WorkingDayCalendar,
    decline_by_default_at,
    end_of_london_day,
    is_bank_holiday,
    london_date,
    reject_by_default_at,
    working_days_left,
)

PLAIN = WorkingDayCalendar()
FAR_CAP = datetime(2030, 1, 1, tzinfo=UTC)
CHRISTMAS_2026 = (date(2026, 12, 21), date(2027, 1, 1))
EASTER_2027 = (date(2027, 3, 22), date(2027, 4, 2))


def london(*args):
    return datetime(*args, tzinfo=LONDON)


def test_weekends_are_not_working_days():
    assert PLAIN.is_working_day(date(2026, 11, 20))  # Friday
    assert not PLAIN.is_working_day(date(2026, 11, 21))
    assert not PLAIN.is_working_day(date(2026, 11, 22))


def test_england_and_wales_bank_holidays_are_not_working_days():
    assert is_bank_holiday(date(2026, 5, 25))  # Spring bank holiday (Monday)
    assert is_bank_holiday(date(2026, 4, 6))  # Easter Monday: England and Wales, not Scotland
    assert not is_bank_holiday(date(2026, 8, 3))  # Scotland's summer holiday is not ours
    assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day (substitute day)


def test_bank_holiday_monday_is_skipped():
    # Friday 22 May 2026 + 1 working day: Monday 25 is a bank holiday, so Tuesday 26.
    assert PLAIN.add_working_days(date(2026, 5, 22), 1) == date(2026, 5, 26)


def test_end_of_day_in_bst_is_22_59_utc():
    assert end_of_london_day(date(2026, 6, 15)) == datetime(2026, 6, 15, 22, 59, 59, 999999, tzinfo=UTC)


def test_end_of_day_in_gmt_is_23_59_utc():
    assert end_of_london_day(date(2026, 11, 23)) == datetime(2026, 11, 23, 23, 59, 59, 999999, tzinfo=UTC)


def test_rbd_is_end_of_the_20th_working_day_in_gmt():
    # Submitted Monday 2 Nov 2026; 20 working days later (no holidays) is Monday 30 Nov.
    deadline = reject_by_default_at(
        submitted_at=london(2026, 11, 2, 10, 0), calendar=PLAIN, working_days=20, cap=FAR_CAP
    )
    assert deadline == datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_rbd_in_bst_ends_at_london_midnight_not_utc_midnight():
    # Submitted Monday 1 June 2026 + 20 working days = Monday 29 June (no holidays), BST.
    deadline = reject_by_default_at(submitted_at=london(2026, 6, 1, 9, 0), calendar=PLAIN, working_days=20, cap=FAR_CAP)
    assert deadline.astimezone(LONDON) == london(2026, 6, 29, 23, 59, 59, 999999)
    assert deadline == datetime(2026, 6, 29, 22, 59, 59, 999999, tzinfo=UTC)


def test_rbd_across_the_spring_clock_change_uses_bst_for_the_deadline_day():
    # Submitted in GMT (Fri 20 Mar 2026), deadline after 29 March is in BST.
    deadline = reject_by_default_at(submitted_at=london(2026, 3, 20, 12, 0), calendar=PLAIN, working_days=5, cap=FAR_CAP)
    assert deadline.astimezone(LONDON) == london(2026, 3, 27, 23, 59, 59, 999999)
    assert deadline.utcoffset() == timedelta(0)
    assert deadline.hour == 23  # 27 March is still GMT
    deadline = reject_by_default_at(submitted_at=london(2026, 3, 27, 12, 0), calendar=PLAIN, working_days=1, cap=FAR_CAP)
    assert deadline == datetime(2026, 3, 30, 22, 59, 59, 999999, tzinfo=UTC)  # Monday 30 March, BST


def test_submission_just_after_london_midnight_counts_from_the_london_date():
    # 00:30 on Saturday in London is 23:30 on Friday in UTC during BST: the London date decides.
    submitted = london(2026, 6, 6, 0, 30)
    assert submitted.astimezone(UTC).day == 5
    assert london_date(submitted) == date(2026, 6, 6)
    deadline = reject_by_default_at(submitted_at=submitted, calendar=PLAIN, working_days=1, cap=FAR_CAP)
    assert deadline.astimezone(LONDON).date() == date(2026, 6, 8)  # Monday


def test_christmas_period_is_not_working_days():
    calendar = WorkingDayCalendar(non_working_periods=(CHRISTMAS_2026,))
    assert not calendar.is_working_day(date(2026, 12, 22))
    # Friday 18 Dec + 1 working day: the period runs to 1 Jan, so Monday 4 Jan 2027.
    assert calendar.add_working_days(date(2026, 12, 18), 1) == date(2027, 1, 4)
    assert PLAIN.add_working_days(date(2026, 12, 18), 1) == date(2026, 12, 21)


def test_easter_period_and_its_bank_holidays():
    calendar = WorkingDayCalendar(non_working_periods=(EASTER_2027,))
    assert calendar.add_working_days(date(2027, 3, 19), 1) == date(2027, 4, 5)
    # Without the period, Good Friday (26 Mar) and Easter Monday (29 Mar) 2027 are still skipped.
    assert PLAIN.add_working_days(date(2027, 3, 25), 1) == date(2027, 3, 30)


def test_rbd_is_capped_at_the_cycles_reject_by_default_date():
    cap = datetime(2026, 9, 30, 22, 59, 59, tzinfo=UTC)
    deadline = reject_by_default_at(submitted_at=london(2026, 9, 20, 9, 0), calendar=PLAIN, working_days=20, cap=cap)
    assert deadline == cap
    early = reject_by_default_at(submitted_at=london(2026, 8, 3, 9, 0), calendar=PLAIN, working_days=20, cap=cap)
    assert early < cap


def test_dbd_is_end_of_the_10th_working_day_after_the_offer():
    deadline = decline_by_default_at(offered_at=london(2026, 11, 23, 15, 0), calendar=PLAIN, working_days=10)
    assert deadline == datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=UTC)


def test_working_days_left_counts_whole_working_days_after_today():
    deadline = end_of_london_day(date(2026, 11, 30))  # Monday
    assert working_days_left(now=london(2026, 11, 23, 9, 0), deadline=deadline, calendar=PLAIN) == 5
    assert working_days_left(now=london(2026, 11, 30, 9, 0), deadline=deadline, calendar=PLAIN) == 0
    assert working_days_left(now=london(2026, 12, 2, 9, 0), deadline=deadline, calendar=PLAIN) == 0


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        london_date(datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ValueError):
        PLAIN.add_working_days(date(2026, 1, 1), 0)
