"""The clock's last tick survives losing Redis: it is kept in the database too, and an entry
Redis lost resumes from it, so a tick that fell in the outage still runs once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.core.redis import redis_connection
from apps.scheduling.models import ClockTick
from apps.scheduling.runner import Clock
from apps.scheduling.ticks import DatabaseTicks
from tests.apps.scheduling.test_clock import SimulatedTime, count_by_entry, entry, finish

pytestmark = pytest.mark.django_db
TIMETABLE = [entry("daily_0800", "0 8 * * *"), entry("every_minute", "* * * * *")]


def _lose_redis():
    """An empty restart: everything the clock kept in Redis is gone (the queue included)."""
    redis_connection().flushdb()


def test_a_daily_tick_that_fell_in_a_redis_outage_runs_once_when_redis_comes_back_empty():
    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))  # Monday, London = UTC in November
    clock = Clock(TIMETABLE, redis_connection(), now=time, ticks=DatabaseTicks())
    assert clock.run_once() == []  # registers both entries: neither fires at start-up
    time.now += timedelta(minutes=1)
    finish(clock.run_once())

    _lose_redis()  # 07:59:45 to 08:03: Redis down, back empty; the 08:00 tick fell in the outage
    time.now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)
    clock._synced = False  # what the clock does after a Redis error
    claims = clock.run_once()

    assert count_by_entry(claims) == {"daily_0800": 1, "every_minute": 1}
    assert [job for name, job in claims if name == "daily_0800"] == ["clock-daily_0800-20261123T080000Z"]
    assert clock.run_once() == []
    assert ClockTick.objects.get(name="daily_0800").last_tick == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_without_the_record_the_outage_tick_would_be_lost():
    """The behaviour the record fixes, kept as a test so that the one above means something."""
    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))
    clock = Clock(TIMETABLE, redis_connection(), now=time)  # no database record
    clock.run_once()
    _lose_redis()
    time.now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)
    clock._synced = False
    assert count_by_entry(clock.run_once()) == {}  # both restart from their latest past tick


def test_a_rescheduled_entry_does_not_resume_from_the_old_schedules_tick():
    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))
    Clock(TIMETABLE, redis_connection(), now=time, ticks=DatabaseTicks()).run_once()
    _lose_redis()
    time.now = datetime(2026, 11, 23, 8, 3, 30, tzinfo=UTC)
    moved = [entry("daily_0800", "0 8 * * 1-5"), entry("every_minute", "* * * * *")]
    claims = Clock(moved, redis_connection(), now=time, ticks=DatabaseTicks()).run_once()
    assert count_by_entry(claims) == {"every_minute": 1}
    assert ClockTick.objects.get(name="daily_0800").signature == "0 8 * * 1-5|Europe/London"


def test_the_record_only_moves_forward_whichever_clock_writes_last():
    ticks = DatabaseTicks()
    daily = TIMETABLE[0]
    ticks.record(daily, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    ticks.record(daily, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # a slower clock's older claim
    assert ticks.recorded(TIMETABLE) == {"daily_0800": datetime(2026, 11, 24, 8, 0, tzinfo=UTC)}


@pytest.mark.django_db(transaction=True)
def test_a_database_error_never_stops_the_clock(caplog):
    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))
    clock = Clock(TIMETABLE, redis_connection(), now=time, ticks=DatabaseTicks())
    clock.run_once()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE scheduling_clocktick RENAME TO scheduling_clocktick_away")
    try:
        time.now += timedelta(minutes=1)
        claims = clock.run_once()
        finish(claims)
        assert count_by_entry(claims) == {"every_minute": 1}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE scheduling_clocktick_away RENAME TO scheduling_clocktick")
    assert "could not record tick" in caplog.text
    time.now += timedelta(minutes=1)
    assert count_by_entry(clock.run_once()) == {"every_minute": 1, "daily_0800": 1}
    assert ClockTick.objects.get(name="every_minute").last_tick == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_tick_whose_claim_a_redis_failover_lost_is_not_run_again():
    """Replication is asynchronous: a failover can drop the last claims the old primary
    acknowledged, putting the entry's last tick back. The database's record is the floor."""
    from apps.scheduling.clock_state import entry_key

    time = SimulatedTime(datetime(2026, 11, 23, 7, 58, 30, tzinfo=UTC))
    clock = Clock([entry("every_minute", "* * * * *")], redis_connection(), now=time, ticks=DatabaseTicks())
    clock.run_once()
    time.now += timedelta(minutes=1)
    assert count_by_entry(clock.run_once()) == {"every_minute": 1}  # the 07:59 tick
    redis = redis_connection()
    redis.hset(entry_key("every_minute"), "last_tick", "2026-11-23T07:58:00+00:00")  # the claim was lost
    redis.delete("rq:queue:sweeps")

    assert clock.run_once() == []  # 07:59 not enqueued a second time
    assert redis.llen("rq:queue:sweeps") == 0
    assert redis.hget(entry_key("every_minute"), "last_tick") == b"2026-11-23T07:59:00+00:00"
    time.now += timedelta(minutes=1)
    assert count_by_entry(clock.run_once()) == {"every_minute": 1}  # and 08:00 runs as usual
