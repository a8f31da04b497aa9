"""Reproduce the rq-scheduler traps that made us write our own clock (docs/adr/0002).

    python3 scripts/rq_scheduler_traps/run.py      (makes its own virtualenv, then runs this)

Needs a Redis; REDIS_URL (default redis://127.0.0.1:6379/8) names a database this script
empties. Each trap prints what rq-scheduler did and what a correct clock must do; the exit
status is the number of traps still present (0 means an upgrade fixed them all: read the
ADR again before switching).
"""

import os
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

os.environ["TZ"] = "Europe/London"  # rq-scheduler's use_local_timezone reads the host's zone
time.tzset()
warnings.simplefilter("ignore", FutureWarning)  # crontab's notice about its next release

import time_machine  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from rq_scheduler import Scheduler  # noqa: E402

LONDON = ZoneInfo("Europe/London")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")


def fresh() -> tuple[Redis, Queue]:
    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    return connection, Queue("default", connection=connection)


def poll_through(scheduler: Scheduler, start: datetime, end: datetime, step: timedelta) -> int:
    """Run the scheduler's pass every ``step`` (as `rqscheduler --interval` would); count the
    pushes onto the queue (nothing consumes it here, and a periodic job reuses its id)."""
    moment = start
    while moment < end:
        with time_machine.travel(moment, tick=False):
            scheduler.enqueue_jobs()
        moment += step
    return scheduler.connection.llen(Queue("default", connection=scheduler.connection).key)


def spring_forward_daily() -> bool:
    """A daily 01:30 London entry on 29 March 2026 (01:00-02:00 does not exist): once, at most."""
    connection, queue = fresh()
    scheduler = Scheduler(queue=queue, connection=connection, interval=1)
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 23:00 GMT, the evening before
    with time_machine.travel(start, tick=False):
        scheduler.cron("30 1 * * *", func="builtins.print", use_local_timezone=True, queue_name="default")
    runs = poll_through(scheduler, start, start + timedelta(hours=4), timedelta(seconds=1))
    print(f"spring forward, daily 01:30 London, polled each second from 23:00 to 03:00: enqueued {runs} times "
          "(a correct clock: once)")
    return runs > 1


def fall_back_hourly() -> bool:
    """An hourly entry through 25 October 2026, 25 hours long in London: 25 runs."""
    connection, queue = fresh()
    scheduler = Scheduler(queue=queue, connection=connection, interval=60)
    midnight = datetime(2026, 10, 25, tzinfo=LONDON).astimezone(UTC)  # 23:00 UTC the day before
    next_midnight = datetime(2026, 10, 26, tzinfo=LONDON).astimezone(UTC)  # 25 hours later
    with time_machine.travel(midnight - timedelta(seconds=30), tick=False):
        scheduler.cron("0 * * * *", func="builtins.print", use_local_timezone=True, queue_name="default")
    runs = poll_through(scheduler, midnight + timedelta(seconds=1), next_midnight, timedelta(seconds=60))
    print(f"fall back, hourly entry through the 25-hour London day: enqueued {runs} times (a correct clock: 25)")
    return runs != 25


def two_schedulers_one_stalled() -> bool:
    """Scheduler A takes the lock and the due job, then stalls past the lock's expiry (a GC
    pause, a stopped container); B takes the lock and enqueues the tick; A resumes: twice?"""
    connection, queue = fresh()
    a = Scheduler(queue=queue, connection=connection, interval=1)
    b = Scheduler(queue=queue, connection=connection, interval=1)
    job = a.cron("* * * * *", func="builtins.print", queue_name="default")
    connection.zadd(a.scheduled_jobs_key, {job.id: 0})  # due now
    assert a.acquire_lock()
    due = list(a.get_jobs_to_queue())  # A has read the due job ...
    connection.pexpire(a.scheduler_lock_key, 1)  # ... and stalls past its lock (interval + 10 s)
    time.sleep(0.05)
    assert b.acquire_lock()
    b.enqueue_jobs()
    for stale in due:  # A wakes up and finishes its pass
        a.enqueue_job(stale)
    ids = [raw.decode() for raw in connection.lrange(queue.key, 0, -1)]
    print(f"two schedulers, one stalled mid-pass: the tick's job id is in the queue {ids.count(job.id)} times "
          "(a correct clock: once); periodic runs share one job id, so they also overlap")
    return ids.count(job.id) > 1


def periodic_runs_share_one_job_id() -> bool:
    """Two ticks of one cron entry: two runs with their own ids (history, no overlap), or one id?"""
    connection, queue = fresh()
    scheduler = Scheduler(queue=queue, connection=connection, interval=60)
    start = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        job = scheduler.cron("* * * * *", func="builtins.print", queue_name="default")
    poll_through(scheduler, start, start + timedelta(minutes=3), timedelta(seconds=60))
    ids = [raw.decode() for raw in connection.lrange(queue.key, 0, -1)]
    print(f"two ticks of a cron entry: job ids pushed {ids} (a correct clock: one id per tick)")
    return len(ids) >= 2 and len(set(ids)) == 1 and ids[0] == job.id


def run_dies_on_a_redis_error() -> bool:
    """The scheduler loop against a Redis that does not answer: carries on, or raises out of run()?"""
    import socket

    from redis.exceptions import RedisError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    connection = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    scheduler = Scheduler(queue=Queue("default", connection=connection), connection=connection, interval=1)
    try:
        scheduler.run(burst=True)
    except RedisError as exc:
        print(f"Redis unreachable: run() raised {type(exc).__name__} (a correct clock: logs and retries)")
        return True
    print("Redis unreachable: run() returned without raising")
    return False


def main() -> int:
    traps = (spring_forward_daily, fall_back_hourly, two_schedulers_one_stalled, periodic_runs_share_one_job_id,
             run_dies_on_a_redis_error)
    present = [trap() for trap in traps]
    print(f"{sum(present)} of {len(present)} traps present in rq-scheduler as pinned")
    return sum(present)


if __name__ == "__main__":
    sys.exit(main())
