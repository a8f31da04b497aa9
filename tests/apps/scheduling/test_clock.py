"""The clock's tick logic against real Redis, with time travelled by a simulated clock."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import django_rq
import pytest
from redis import Redis
from rq.job import Job, JobStatus
from rq.worker import Worker

from apps.core.redis import redis_connection
from apps.scheduling.clock_state import ClockState, entry_key, runs_key
from apps.scheduling.runner import Clock
from apps.scheduling.timetable import Entry, TimetableError, tick_job_id, validate_timetable
from tests.settings_env import TEST_REDIS_URL

LONDON = ZoneInfo("Europe/London")
JOB = "jobs.maintenance.sessions_clear_expired"


def entry(name, schedule):
    return Entry(name=name, schedule=schedule, tz="Europe/London", job=JOB, queue="sweeps", why="test")


class SimulatedTime:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self):
        return self.now


def enqueued_ids():
    return django_rq.get_queue("sweeps").get_job_ids()


def finish(claims):
    """Stand-in for workers: the jobs just enqueued have run (so the next tick is not skipped)."""
    connection = redis_connection()
    for _, job_id in claims:
        if job_id.startswith("clock-"):
            connection.hset(f"rq:job:{job_id}", "status", JobStatus.FINISHED.value)


def run_through(clocks, time, until, step=timedelta(seconds=20)):
    """Poll every clock at each step from now to ``until``; return the (entry, job id) claims."""
    claims = []
    while time.now < until:
        time.now += step
        for clock in clocks:
            claimed = clock.run_once()
            finish(claimed)
            claims += claimed
    return claims


def count_by_entry(claims):
    counts = {}
    for name, _ in claims:
        counts[name] = counts.get(name, 0) + 1
    return counts


DST_TIMETABLE = [
    entry("daily_0130", "30 1 * * *"),
    entry("daily_0030", "30 0 * * *"),
    entry("hourly", "35 * * * *"),
    entry("every_minute", "* * * * *"),
]


DST_DAYS = [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 11, 23), 24)]
DST_IDS = ["spring-forward", "fall-back", "ordinary-day"]
DAILY_0130_AT = {
    (2026, 3, 29): datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 01:30 does not exist: end of the gap, 02:00 BST
    (2026, 10, 25): datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 01:30 happens twice: the first, 01:30 BST
    (2026, 11, 23): datetime(2026, 11, 23, 1, 30, tzinfo=UTC),
}


def ticks_between(entry: Entry, start: datetime, end: datetime) -> list[datetime]:
    """The entry's ticks in (start, end], by cron arithmetic alone (what the clock must follow)."""
    ticks, moment = [], start
    while (moment := entry.next_after(moment)) <= end:
        ticks.append(moment)
    return ticks


def london_day(day) -> tuple[datetime, datetime]:
    start = datetime(*day, tzinfo=LONDON)
    end = datetime.combine(start.date() + timedelta(days=1), start.time(), tzinfo=LONDON)
    return start.astimezone(UTC) - timedelta(seconds=1), end.astimezone(UTC) - timedelta(seconds=1)


@pytest.mark.parametrize(("day", "hours"), DST_DAYS, ids=DST_IDS)
def test_dst_days_follow_vixie_cron(day, hours):
    """Whole London days, by arithmetic: each daily entry once, hourly ones every real hour."""
    start, end = london_day(day)
    assert (end - start) == timedelta(hours=hours)
    counts = {entry.name: len(ticks_between(entry, start, end)) for entry in DST_TIMETABLE}
    assert counts == {"daily_0130": 1, "daily_0030": 1, "hourly": hours, "every_minute": hours * 60}
    assert ticks_between(DST_TIMETABLE[0], start, end) == [DAILY_0130_AT[day]]


@pytest.mark.parametrize(("day", "hours"), DST_DAYS, ids=DST_IDS)
def test_the_clock_enqueues_exactly_the_cron_ticks_across_a_dst_change(day, hours):
    """The real clock against Redis through the night's change (00:00 to 03:00 London),
    polling every 20 s: exactly the ticks the arithmetic gives, each once."""
    start = datetime(*day, tzinfo=LONDON).astimezone(UTC) - timedelta(seconds=1)
    end = start + timedelta(hours=3)
    time = SimulatedTime(start)
    clock = Clock(DST_TIMETABLE, redis_connection(), now=time)
    clock.run_once()  # registers: nothing fires at start-up

    claims = run_through([clock], time, end)

    expected = {entry.name: len(ticks_between(entry, start, end)) for entry in DST_TIMETABLE}
    assert count_by_entry(claims) == expected
    assert len(set(enqueued_ids())) == len(claims) == len(enqueued_ids())
    daily = [job for name, job in claims if name == "daily_0130"][0]
    fired_at = django_rq.get_queue("sweeps").fetch_job(daily).meta["tick"]
    assert fired_at == DAILY_0130_AT[day].isoformat()


def test_three_clocks_enqueue_each_tick_exactly_once():
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    clocks = [Clock(DST_TIMETABLE, redis_connection(), now=time, clock_id=f"c{i}") for i in range(3)]
    for clock in clocks:
        clock.run_once()

    claims = run_through(clocks, time, time.now + timedelta(hours=2))

    assert count_by_entry(claims) == {"every_minute": 120, "hourly": 2}
    assert sorted(job for _, job in claims) == sorted(enqueued_ids())
    assert {run["clock"] for run in ClockState(redis_connection()).runs("every_minute", 50)} <= {"c0", "c1", "c2"}


def test_catch_up_after_downtime_runs_each_entry_once_then_returns_to_the_timetable():
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    Clock(DST_TIMETABLE, redis_connection(), now=time).run_once()

    time.now = datetime(2026, 11, 24, 3, 10, 30, tzinfo=UTC)  # down for 18 hours
    restarted = Clock(DST_TIMETABLE, redis_connection(), now=time)
    claims = restarted.run_once()
    assert count_by_entry(claims) == {"daily_0130": 1, "daily_0030": 1, "hourly": 1, "every_minute": 1}
    assert restarted.run_once() == []

    later = run_through([restarted], time, time.now + timedelta(minutes=30))
    assert count_by_entry(later) == {"every_minute": 30, "hourly": 1}


def test_a_new_entry_does_not_fire_at_start_up_and_a_removed_one_leaves_nothing_behind():
    connection = redis_connection()
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    assert Clock([entry("daily_0130", "30 1 * * *")], connection, now=time).run_once() == []
    time.now += timedelta(days=1)
    assert Clock([entry("daily_0130", "30 1 * * *")], connection, now=time).run_once() != []
    assert connection.exists(entry_key("daily_0130"), runs_key("daily_0130")) == 2

    Clock([entry("hourly", "35 * * * *")], connection, now=time).run_once()

    assert not connection.exists(entry_key("daily_0130"))
    assert not connection.exists(runs_key("daily_0130"))
    assert connection.smembers("apply:clock:entries") == {b"hourly"}


def test_a_changed_schedule_replaces_the_old_one():
    connection = redis_connection()
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    Clock([entry("report", "0 8 * * *")], connection, now=time).run_once()
    rescheduled = Clock([entry("report", "0 10 * * *")], connection, now=time)
    claims = run_through([rescheduled], time, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), step=timedelta(minutes=1))
    ticks = [django_rq.get_queue("sweeps").fetch_job(job).meta["tick"] for _, job in claims]
    assert ticks == ["2026-11-23T10:00:00+00:00"]


def test_a_paused_entry_consumes_its_ticks_without_enqueueing():
    connection = redis_connection()
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    clock = Clock([entry("every_minute", "* * * * *")], connection, now=time)
    clock.run_once()
    ClockState(connection).set_paused("every_minute", True)
    paused = run_through([clock], time, time.now + timedelta(minutes=3))
    assert [outcome for _, outcome in paused] == ["paused"] * 3
    assert enqueued_ids() == []
    ClockState(connection).set_paused("every_minute", False)
    assert len(run_through([clock], time, time.now + timedelta(minutes=2))) == 2
    assert len(enqueued_ids()) == 2


def test_run_now_enqueues_a_job_with_its_own_id():
    connection = redis_connection()
    now = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)
    Clock([entry("daily_0130", "30 1 * * *")], connection, now=lambda: now).run_once()
    job_id = ClockState(connection).run_now("daily_0130", now=now, requested_by="support")
    assert job_id.startswith("clock-daily_0130-manual-20261123T090030-")
    assert enqueued_ids() == [job_id]
    assert ClockState(connection).runs("daily_0130")[0]["outcome"] == "manual"


def test_tick_job_ids_use_only_characters_rq_allows():
    job_id = tick_job_id("applications_reject_due", datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert job_id == "clock-applications_reject_due-20260329T010000Z"
    assert set(job_id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry("a", "* * * * *"), entry("a", "0 1 * * *")], "duplicate entry names: a"),
        ([entry("bad name", "* * * * *")], "names are lowercase"),
        ([entry("a", "61 * * * *")], "invalid schedule"),
        ([entry("a", "* * * *")], "cron expression of 5 fields"),
        ([Entry("a", "* * * * *", "Europe/Londres", JOB, "sweeps", "x")], "unknown time zone"),
        ([Entry("a", "* * * * *", "UTC", "jobs.nope.missing", "sweeps", "x")], "does not import"),
        ([Entry("a", "* * * * *", "UTC", JOB, "sweeps", " ")], "say why"),
    ],
)
def test_validation_rejects_bad_timetables(entries, message):
    with pytest.raises(TimetableError, match=message):
        validate_timetable(entries)


def test_run_now_of_an_unknown_entry_is_a_clear_error():
    with pytest.raises(KeyError, match="no entry named 'nope'"):
        ClockState(redis_connection()).run_now("nope", now=datetime(2026, 11, 23, tzinfo=UTC), requested_by="x")


def test_overview_shows_schedule_next_run_and_last_runs_with_their_outcome():
    connection = redis_connection()
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    clock = Clock([entry("every_minute", "* * * * *"), entry("daily_0130", "30 1 * * *")], connection, now=time)
    clock.run_once()
    run_through([clock], time, time.now + timedelta(minutes=2))
    ClockState(connection).set_paused("daily_0130", True)

    overview = {row["name"]: row for row in ClockState(connection).overview(time.now)}

    minute = overview["every_minute"]
    assert (minute["schedule"], minute["tz"], minute["description"]) == (
        "* * * * *", "Europe/London", "Every minute (Europe/London)")
    assert minute["next_run"].astimezone(UTC) == datetime(2026, 11, 23, 9, 3, tzinfo=UTC)
    assert [run["status"] for run in minute["runs"]] == ["finished", "finished"]
    assert [run["tick"] for run in minute["runs"]] == ["2026-11-23T09:02:00+00:00", "2026-11-23T09:01:00+00:00"]
    assert overview["daily_0130"]["paused"] is True
    assert overview["daily_0130"]["next_run"].astimezone(UTC) == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


def test_a_tick_already_claimed_is_not_enqueued_again():
    connection = redis_connection()
    now = datetime(2026, 11, 23, 9, 1, 0, tzinfo=UTC)
    every_minute = entry("every_minute", "* * * * *")
    ClockState(connection).register(every_minute, now - timedelta(minutes=1))
    tick = datetime(2026, 11, 23, 9, 1, tzinfo=UTC)

    first = ClockState(connection).claim_and_enqueue(every_minute, tick, clock_id="a", now=now)
    again = ClockState(connection).claim_and_enqueue(every_minute, tick, clock_id="b", now=now)
    older = ClockState(connection).claim_and_enqueue(every_minute, tick - timedelta(minutes=1), clock_id="b", now=now)

    assert first == tick_job_id("every_minute", tick)
    assert again is None and older is None
    assert enqueued_ids() == [first]


def test_a_clock_that_stalls_between_reading_and_claiming_loses_the_tick(monkeypatch):
    """Clock A reads the entry's state, stalls; clock B claims the tick; A's claim must fail."""
    import apps.scheduling.clock_state as clock_state

    connection = redis_connection()
    now = datetime(2026, 11, 23, 9, 1, 0, tzinfo=UTC)
    every_minute = entry("every_minute", "* * * * *")
    ClockState(connection).register(every_minute, now - timedelta(minutes=1))
    tick = datetime(2026, 11, 23, 9, 1, tzinfo=UTC)
    real_decode = clock_state._decode
    interleaved = []
    stalled = []

    def decode_then_let_b_in(mapping):
        result = real_decode(mapping)
        if not stalled:  # A has read (under WATCH) and stalls here: B runs its whole claim
            stalled.append(True)
            b = ClockState(Redis.from_url(TEST_REDIS_URL))
            interleaved.append(b.claim_and_enqueue(every_minute, tick, clock_id="b", now=now))
        return result

    monkeypatch.setattr(clock_state, "_decode", decode_then_let_b_in)
    a = ClockState(connection).claim_and_enqueue(every_minute, tick, clock_id="a", now=now)

    assert interleaved == [tick_job_id("every_minute", tick)]
    assert a is None
    assert enqueued_ids() == interleaved


def _take_off_the_queue(job_id: str) -> Job:
    """What a worker's dequeue does first: the id leaves the queue (nothing else happens yet)."""
    queue = django_rq.get_queue("sweeps")
    assert queue.connection.lrem(queue.key, 1, job_id) == 1
    return queue.fetch_job(job_id)


def _started_by(job: Job, worker: Worker, started_at: datetime) -> None:
    """What a worker's bookkeeping does once it holds the job (its key alive, the job started)."""
    worker.register_birth()
    job.worker_name = worker.name
    job.connection.hset(job.key, mapping={"worker_name": worker.name, "status": JobStatus.STARTED.value,
                                          "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})


def _every_minute_with_a_first_run():
    """A clock with one every-minute entry, a minute after its first run was enqueued."""
    connection = redis_connection()
    time = SimulatedTime(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC))
    clock = Clock([entry("every_minute", "* * * * *")], connection, now=time)
    clock.run_once()
    time.now += timedelta(minutes=1)
    [(_, first)] = clock.run_once()
    return connection, time, clock, first


def test_a_tick_that_finds_the_previous_run_queued_or_running_is_skipped_not_piled_up():
    connection, time, clock, first = _every_minute_with_a_first_run()
    time.now += timedelta(minutes=1)
    assert clock.run_once() == [("every_minute", "skipped")]  # first is still queued

    job = _take_off_the_queue(first)
    worker = Worker(["sweeps"], connection=connection, name="test-worker-alive")
    time.now += timedelta(minutes=1)
    _started_by(job, worker, time.now - timedelta(seconds=5))
    assert clock.run_once() == [("every_minute", "skipped")]  # still running
    assert ClockState(connection).runs("every_minute")[0]["outcome"] == f"skipped: previous run {first} still running"

    # A run that started longer ago than its timeout was abandoned (worker killed): no longer blocks.
    time.now += timedelta(minutes=1)
    connection.hset(job.key, "started_at", (time.now - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    [(_, second)] = clock.run_once()
    assert second.startswith("clock-every_minute-") and second != first
    job = django_rq.get_queue("sweeps").fetch_job(second)
    job.set_status(JobStatus.FINISHED)
    time.now += timedelta(minutes=1)
    assert clock.run_once()[0][1].startswith("clock-every_minute-")
    assert len(enqueued_ids()) == 2  # first left the queue above


def test_a_queued_run_that_is_in_no_queue_was_lost_and_does_not_block_the_next_tick():
    """A worker on several queues pops the id and dies before registering it: the hash says
    "queued" for good. The next tick must run the rule, not skip it for ten minutes."""
    connection, time, clock, lost = _every_minute_with_a_first_run()
    _take_off_the_queue(lost)  # ... and the worker died here
    assert django_rq.get_queue("sweeps").fetch_job(lost).get_status() == JobStatus.QUEUED

    time.now += timedelta(minutes=1)
    [(_, again)] = clock.run_once()

    assert again.startswith("clock-every_minute-") and again != lost
    assert enqueued_ids() == [again]
    assert ClockState(connection).runs("every_minute")[0]["outcome"] == "enqueued"


def test_a_started_run_whose_worker_is_gone_does_not_block_the_next_tick():
    connection, time, clock, first = _every_minute_with_a_first_run()
    job = _take_off_the_queue(first)
    worker = Worker(["sweeps"], connection=connection, name="test-worker-gone")
    time.now += timedelta(minutes=1)
    _started_by(job, worker, time.now - timedelta(seconds=5))
    assert clock.run_once() == [("every_minute", "skipped")]  # its worker is alive: still running

    connection.delete(worker.key)  # the worker's key expired: it died (SIGKILL, lost host)
    time.now += timedelta(minutes=1)
    started_at = time.now - timedelta(seconds=5)  # well inside the job's timeout
    connection.hset(job.key, "started_at", started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    [(_, second)] = clock.run_once()
    assert second != first and second.startswith("clock-every_minute-")
