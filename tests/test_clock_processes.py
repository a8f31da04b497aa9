"""Real ``python clock.py`` processes against real Redis, with second-level timetables:
exactly once per tick with several clocks, takeover after kill -9, a stalled clock,
catch-up after downtime, a Redis restart, and SIGTERM."""

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from apps.scheduling.clock_state import runs_key
from tests.conftest import free_port
from tests.processes import child_env, clock_args, redis_pings, redis_server_args, wait_until
from tests.settings_env import TEST_REDIS_URL

# Transactional: the clocks record their ticks in the test database (flushed after each test).
pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]
TIMETABLE = "tests.clock_timetables.EVERY_SECOND"


def clock_env(redis_url=TEST_REDIS_URL, poll="0.2"):
    return child_env(CLOCK_TIMETABLE=TIMETABLE, CLOCK_POLL_INTERVAL=poll, REDIS_URL=redis_url)


def queued_ids(connection: Redis) -> list[str]:
    return [raw.decode() for raw in connection.lrange("rq:queue:sweeps", 0, -1)]


def ticks(connection: Redis, entry: str) -> list[datetime]:
    prefix = f"clock-{entry}-"
    return sorted(
        datetime.strptime(job_id[len(prefix):], "%Y%m%dT%H%M%SZ")
        for job_id in queued_ids(connection)
        if job_id.startswith(prefix)
    )


def runs(connection: Redis, entry: str) -> list[dict]:
    return [json.loads(raw) for raw in connection.lrange(runs_key(entry), 0, -1)][::-1]


def assert_each_tick_once(connection: Redis, entry: str = "every_second", step: int = 1):
    ids = queued_ids(connection)
    assert len(ids) == len(set(ids)), "a job id was enqueued twice"
    seen = ticks(connection, entry)
    assert len(seen) >= 3
    gaps = [(a, b) for a, b in zip(seen, seen[1:]) if (b - a) != timedelta(seconds=step)]
    assert gaps == [], f"missed ticks between {gaps}"
    return seen


def test_three_clocks_enqueue_each_tick_exactly_once_even_when_one_stalls(processes, redis_db):
    # Fast polls make the clocks contend for the same ticks.
    clocks = [processes.start(f"clock{i}", clock_args(), clock_env(poll="0.05")) for i in range(3)]
    wait_until(lambda: len(ticks(redis_db, "every_second")) >= 3, timeout=30, message="first ticks")
    clocks[0].popen.send_signal(signal.SIGSTOP)  # a clock stalled mid-pass (GC, swap, a paused VM)
    time.sleep(3)
    clocks[0].popen.send_signal(signal.SIGCONT)
    time.sleep(3)
    for clock in clocks:
        assert clock.stop() == 0

    assert_each_tick_once(redis_db, "every_second", 1)
    assert_each_tick_once(redis_db, "every_two_seconds", 2)
    claimed_by = {run["clock"] for run in runs(redis_db, "every_second")}
    assert len(claimed_by) >= 2, "the clocks were expected to share the ticks"


def test_another_clock_takes_over_within_a_poll_after_kill_9(processes, redis_db):
    first = processes.start("first", clock_args(), clock_env())
    second = processes.start("second", clock_args(), clock_env())
    wait_until(lambda: len(ticks(redis_db, "every_second")) >= 3, timeout=30, message="first ticks")
    first.kill()
    killed_at = time.time()
    wait_until(
        lambda: [r for r in runs(redis_db, "every_second") if datetime.fromisoformat(r["tick"]).timestamp() > killed_at + 2],
        timeout=30,
        message="ticks after the kill",
    )
    assert second.stop() == 0

    assert_each_tick_once(redis_db)
    after = [r for r in runs(redis_db, "every_second") if datetime.fromisoformat(r["tick"]).timestamp() > killed_at]
    assert after and all(r["clock"].endswith(f"-{second.pid}") for r in after)
    lateness = [
        (datetime.fromisoformat(r["enqueued_at"]) - datetime.fromisoformat(r["tick"])).total_seconds() for r in after
    ]
    assert max(lateness) < 30, lateness  # the bound; in practice one poll (0.2 s)


def test_catch_up_after_all_clocks_were_down_runs_once_then_returns_to_the_timetable(processes, redis_db):
    clock = processes.start("clock", clock_args(), clock_env())
    wait_until(lambda: len(ticks(redis_db, "every_second")) >= 2, timeout=30, message="first ticks")
    assert clock.stop() == 0  # SIGTERM: stops between ticks, exit code 0
    stopped_at = time.time()
    time.sleep(4)  # four or five ticks missed
    restarted_at = time.time()
    processes.start("restarted", clock_args(), clock_env())
    wait_until(
        lambda: [t for t in ticks(redis_db, "every_second") if t.timestamp() > restarted_at + 2],
        timeout=30,
        message="ticks after the restart",
    )
    missed = [t for t in ticks(redis_db, "every_second") if stopped_at + 1 < t.timestamp() < restarted_at]
    assert len(missed) <= 1, f"missed ticks must coalesce into one run, got {missed}"
    assert len({*queued_ids(redis_db)}) == len(queued_ids(redis_db))


def test_a_redis_restart_does_not_stop_the_clock(processes):
    port = free_port()
    server = processes.start("redis", redis_server_args(port), {})
    url = f"redis://127.0.0.1:{port}/0"
    connection = Redis.from_url(url)
    wait_until(lambda: redis_pings(connection), timeout=10, message="private redis")
    clock = processes.start("clock", clock_args(), clock_env(redis_url=url))
    wait_until(lambda: len(ticks(connection, "every_second")) >= 2, timeout=30, message="first ticks")

    server.kill()
    time.sleep(3)
    assert clock.popen.poll() is None, "the clock died with Redis"
    server = processes.start("redis-again", redis_server_args(port), {})
    wait_until(lambda: redis_pings(connection), timeout=10, message="redis back")
    wait_until(lambda: len(ticks(connection, "every_second")) >= 2, timeout=30, message="ticks after the restart")
    assert clock.popen.poll() is None
    assert "Redis error, retrying" in clock.output()
    assert clock.stop() == 0



def test_a_tick_that_fell_while_redis_was_lost_runs_when_redis_comes_back_empty(processes):
    """Redis restarted without persistence forgets every entry's last tick; the clock resumes
    from the tick it also kept in the database, so the tick inside the outage still runs."""
    from apps.scheduling.models import ClockTick

    port = free_port()
    server = processes.start("redis", redis_server_args(port), {})
    url = f"redis://127.0.0.1:{port}/0"
    connection = Redis.from_url(url)
    wait_until(lambda: redis_pings(connection), timeout=10, message="private redis")
    env = child_env(CLOCK_TIMETABLE="tests.clock_timetables.EVERY_TEN_SECONDS", CLOCK_POLL_INTERVAL="0.2",
                    REDIS_URL=url)
    clock = processes.start("clock", clock_args(), env)
    [before] = wait_until(lambda: ticks(connection, "every_ten_seconds"), timeout=30, message="a first tick")
    server.kill()  # just after the tick: the next one falls in the outage
    outage_tick = before + timedelta(seconds=10)
    wait_until(lambda: ClockTick.objects.filter(name="every_ten_seconds", last_tick__gte=before.replace(tzinfo=UTC)),
               timeout=10, message="the tick recorded in the database")
    wait_until(lambda: time.time() > outage_tick.replace(tzinfo=UTC).timestamp() + 0.5, timeout=15,
               message="the outage to cover the next tick")
    processes.start("redis-empty", redis_server_args(port), {})
    wait_until(lambda: redis_pings(connection), timeout=10, message="redis back, empty")

    seen = wait_until(lambda: ticks(connection, "every_ten_seconds"), timeout=30, message="ticks after the restart")
    assert seen[0] == outage_tick, f"the tick inside the outage ({outage_tick}) did not run: {seen}"
    assert clock.stop() == 0


def test_a_sweep_slower_than_its_interval_never_overlaps_and_never_piles_up(processes, redis_db):
    """The seed scenario, at second scale: ticks every second, runs take 2.5 s, two workers."""
    from tests.processes import worker_args
    from tests.slow_jobs import RUNS_KEY

    env = child_env(CLOCK_TIMETABLE="tests.clock_timetables.SLOW_SWEEP_EVERY_SECOND", CLOCK_POLL_INTERVAL="0.2")
    workers = [processes.start(f"worker{i}", worker_args("sweeps"), env) for i in range(2)]
    clock = processes.start("clock", clock_args(), env)
    queue_lengths = []

    def three_runs_done():
        # Sampled while waiting: the queue must never hold more than the one waiting tick.
        queue_lengths.append(redis_db.llen("rq:queue:sweeps"))
        return redis_db.llen(RUNS_KEY) >= 3

    # A condition, not a window: three finished runs, however slow the machine (bounded).
    wait_until(three_runs_done, timeout=90, interval=0.1, message="three runs of the slow sweep")
    assert clock.stop() == 0
    for worker in workers:
        worker.stop()

    done = [json.loads(raw) for raw in redis_db.lrange(RUNS_KEY, 0, -1)]
    intervals = sorted((run["start"], run["end"]) for run in done if "start" in run)
    assert len(intervals) >= 3
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(intervals, intervals[1:])), intervals
    assert not [run for run in done if "lease" in run], "a second run was started while one was running"
    assert max(queue_lengths) <= 1, "ticks piled up behind the slow run"
    outcomes = [run["outcome"] for run in runs(redis_db, "slow_sweep")]
    assert any(outcome.startswith("skipped: previous run") for outcome in outcomes)


def test_a_sweep_lost_by_a_worker_killed_while_taking_it_does_not_block_its_rule(processes, redis_db):
    """A worker on several queues pops the sweep and is killed before registering it (RQ's
    multi-queue dequeue is a plain pop): the job's hash says "queued" while it is in no queue.
    The next tick must run the rule again; reject by default must not stop for ten minutes.

    Reproduced as the issue did: SIGSTOP an idle worker (its blocking pop still takes the
    next job), let a tick hand it the sweep, SIGKILL it, then start a healthy worker."""
    from django.utils import timezone
    from rq.worker import Worker

    from apps.applications.models import Application, ApplicationState
    from tests.factories import make_application
    from tests.processes import worker_args

    env = child_env(CLOCK_TIMETABLE="tests.clock_timetables.REJECT_SWEEP_EVERY_TWO_SECONDS", CLOCK_POLL_INTERVAL="0.2")
    stuck = processes.start("worker-stuck", worker_args(), env)
    wait_until(lambda: [w for w in Worker.all(connection=redis_db) if w.pid == stuck.pid and w.get_state() == "idle"],
               timeout=60, message="the first worker to wait for jobs")
    os.kill(stuck.pid, signal.SIGSTOP)
    clock = processes.start("clock", clock_args(), env)

    def lost_run():
        for run in runs(redis_db, "applications_reject_due"):
            if run["outcome"] == "enqueued" and redis_db.lpos("rq:queue:sweeps", run["job_id"]) is None:
                return run["job_id"]
        return None

    lost = wait_until(lost_run, timeout=30, message="a tick's sweep to be popped by the stopped worker")
    stuck.kill()
    assert redis_db.hget(f"rq:job:{lost}", "status") == b"queued"

    due = [
        make_application(state=ApplicationState.AWAITING_PROVIDER_DECISION,
                         reject_by_default_at=timezone.now() - timedelta(seconds=1))
        for _ in range(20)
    ]
    processes.start("worker", worker_args(), env)
    wait_until(
        lambda: Application.objects.filter(pk__in=[a.pk for a in due], state=ApplicationState.REJECTED).count() == 20,
        timeout=60,
        message="the due applications to be rejected by default after the lost sweep",
    )
    outcomes = [run["outcome"] for run in runs(redis_db, "applications_reject_due")]
    assert f"skipped: previous run {lost} still queued" not in outcomes
    assert "was lost (queued, but in no queue" in clock.output()
    assert clock.stop() == 0
