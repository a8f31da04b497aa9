"""Renaming clock entries on deploy (clock.py's RENAMED_ENTRIES): the new name takes the old
one's state once, so the deploy neither skips a tick that fell while no clock ran nor
forgets a pause; without the mapping it would do both."""

from datetime import UTC, datetime, timedelta

import pytest

import clock
from apps.core.redis import redis_connection
from apps.scheduling.clock_state import ClockState, entry_key, runs_key
from apps.scheduling.models import ClockTick
from apps.scheduling.runner import Clock
from apps.scheduling.ticks import DatabaseTicks
from tests.apps.scheduling.test_clock import SimulatedTime, count_by_entry, entry, finish

pytestmark = pytest.mark.django_db

OLD = [entry("daily_report", "0 8 * * *"), entry("deliver_outbox", "* * * * *")]
NEW = [entry("daily_report_send", "0 8 * * *"), entry("outbox_emails_deliver_due", "* * * * *")]
RENAMED = {"daily_report": "daily_report_send", "deliver_outbox": "outbox_emails_deliver_due"}


def _old_version_ran_until_just_before_eight():
    """The previous release's clock: registered, ran a minute, support paused deliver_outbox, then
    the deploy stopped it at 07:59:45 (Monday; London = UTC in November)."""
    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))
    old = Clock(OLD, redis_connection(), now=time, ticks=DatabaseTicks())
    old.run_once()
    time.now += timedelta(minutes=1)
    finish(old.run_once())
    ClockState(redis_connection()).set_paused("deliver_outbox", True)
    return time


def test_a_deploy_that_renames_entries_keeps_their_ticks_pauses_and_runs():
    time = _old_version_ran_until_just_before_eight()
    old_runs = ClockState(redis_connection()).runs("deliver_outbox")

    time.now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)  # the new release's clock starts
    new = Clock(NEW, redis_connection(), now=time, ticks=DatabaseTicks(), renamed=RENAMED)
    claims = new.run_once()

    # The 08:00 tick fell while no clock ran: it runs once, under the new name.
    assert count_by_entry(claims) == {"daily_report_send": 1, "outbox_emails_deliver_due": 1}
    assert dict(claims)["daily_report_send"] == "clock-daily_report_send-20261123T080000Z"
    assert dict(claims)["outbox_emails_deliver_due"] == "paused"  # still paused
    state = ClockState(redis_connection())
    assert state.runs("outbox_emails_deliver_due")[1:] == old_runs  # the history came along
    # Nothing is left under the old names, in Redis or in the database.
    connection = redis_connection()
    assert connection.smembers("apply:clock:entries") == {b"daily_report_send", b"outbox_emails_deliver_due"}
    assert not connection.exists(entry_key("daily_report"), runs_key("daily_report"), entry_key("deliver_outbox"))
    assert set(ClockTick.objects.values_list("name", flat=True)) == {"daily_report_send", "outbox_emails_deliver_due"}
    assert ClockTick.objects.get(name="daily_report_send").last_tick == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    # Once: a second start (another clock, a restart) finds nothing more to carry.
    finish(claims)
    assert Clock(NEW, redis_connection(), now=time, ticks=DatabaseTicks(), renamed=RENAMED).run_once() == []


def test_without_the_mapping_a_rename_would_skip_the_tick_and_forget_the_pause():
    """The behaviour the mapping fixes, kept as a test so that the one above means something."""
    time = _old_version_ran_until_just_before_eight()
    time.now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)
    new = Clock(NEW, redis_connection(), now=time, ticks=DatabaseTicks())
    assert new.run_once() == []  # both start from their latest past tick: 08:00 is lost
    time.now += timedelta(minutes=1)
    assert [outcome for name, outcome in new.run_once()] == ["clock-outbox_emails_deliver_due-20261123T080400Z"]


def test_a_rename_deployed_while_redis_was_lost_resumes_from_the_database_record():
    _old_version_ran_until_just_before_eight()
    redis_connection().flushdb()  # Redis came back empty as well
    time = SimulatedTime(datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC))
    claims = Clock(NEW, redis_connection(), now=time, ticks=DatabaseTicks(), renamed=RENAMED).run_once()
    assert count_by_entry(claims) == {"daily_report_send": 1, "outbox_emails_deliver_due": 1}


def test_a_new_name_that_already_has_state_keeps_it_and_the_old_one_is_dropped():
    """Two clocks of the new version starting together: one carries the state over, the other
    finds the new entry there already and leaves it as it is."""
    connection = redis_connection()
    now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)
    state = ClockState(connection)
    state.register(OLD[0], now - timedelta(days=1))
    state.set_paused("daily_report", True)
    state.register(NEW[0], now)

    assert state.carry_over("daily_report", "daily_report_send") is False
    assert state.sync(NEW[:1], now, renamed=RENAMED) == ["daily_report"]
    kept = state.states(["daily_report_send"])["daily_report_send"]
    assert (kept.paused, kept.last_tick) == (False, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert not connection.exists(entry_key("daily_report"))

    ticks = DatabaseTicks()
    ticks.record(OLD[0], datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    ticks.record(NEW[0], datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    ticks.carry_over(RENAMED)
    assert list(ClockTick.objects.values_list("name", "last_tick")) == [
        ("daily_report_send", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    ]


def test_the_production_renames_lead_from_old_names_to_entries_of_the_timetable():
    names = {entry.name for entry in clock.TIMETABLE}
    assert set(clock.RENAMED_ENTRIES.values()) <= names
    assert not set(clock.RENAMED_ENTRIES) & names
