#!/usr/bin/env python
"""Clock benchmark: tick lateness, duplicates and misses with 1 clock (baseline), 3 clocks,
and 3 clocks of which one is killed with SIGKILL half-way (takeover).

    .venv/bin/python scripts/bench_clock.py [--seconds 100] [--redis-url redis://127.0.0.1:6379/9]

Runs real ``python clock.py`` processes (CLOCK_TIMETABLE=scripts.bench_clock.BENCH_TIMETABLE,
second-level schedules) against a Redis database it flushes (never use database 0).
Lateness is the RQ job's enqueued_at minus its tick. Misses are ticks the timetable had
between the first and last tick of the phase that no job was enqueued for.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.scheduling.timetable import Entry  # noqa: E402

JOB = "jobs.maintenance.sessions_clear_expired"  # never run: no worker in the benchmark
BENCH_TIMETABLE = [
    Entry(name="every_second", schedule="* * * * * *", tz="UTC", job=JOB, queue="sweeps", why="bench", skip_if_running=False),
    Entry(name="every_2s_london", schedule="*/2 * * * * *", tz="Europe/London", job=JOB, queue="sweeps", why="bench", skip_if_running=False),
    Entry(name="every_5s", schedule="*/5 * * * * *", tz="UTC", job=JOB, queue="sweeps", why="bench", skip_if_running=False),
]


def start_clock(env):
    return subprocess.Popen(
        [sys.executable, "clock.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run_phase(name, *, clocks, seconds, kill_one, redis_url, connection):
    connection.flushdb()
    env = dict(os.environ, REDIS_URL=redis_url, DJANGO_SECRET_KEY="bench", LOG_LEVEL="WARNING",
               CLOCK_TIMETABLE="scripts.bench_clock.BENCH_TIMETABLE", SERVICE_NAME="clock")
    processes = [start_clock(env) for _ in range(clocks)]
    time.sleep(3)  # start-up and registration; ticks before this are not counted
    started = datetime.now(UTC)
    if kill_one:
        time.sleep(seconds / 2)
        processes[0].send_signal(signal.SIGKILL)
        time.sleep(seconds / 2)
    else:
        time.sleep(seconds)
    ended = datetime.now(UTC)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=10)
    return analyse(name, connection, started, ended, clocks)


def analyse(name, connection, started, ended, clocks):
    from cronsim import CronSim
    from rq.job import Job

    ids = [raw.decode() for raw in connection.lrange("rq:queue:sweeps", 0, -1)]
    duplicates = len(ids) - len(set(ids))
    jobs = [job for job in Job.fetch_many(list(set(ids)), connection=connection) if job is not None]
    lateness, missed, counted = [], 0, 0
    for entry in BENCH_TIMETABLE:
        observed = {}
        for job in jobs:
            if job.meta.get("clock_entry") == entry.name:
                tick = datetime.fromisoformat(job.meta["tick"])
                observed[tick] = job
        expected = []
        for tick in CronSim(entry.schedule, started.astimezone(entry.zone)):
            tick = tick.astimezone(UTC)
            if tick > ended - timedelta(seconds=1):
                break
            expected.append(tick)
        counted += len(expected)
        missed += sum(1 for tick in expected if tick not in observed)
        lateness += [
            (observed[tick].enqueued_at.replace(tzinfo=UTC) - tick).total_seconds() for tick in expected if tick in observed
        ]
    lateness.sort()
    p = lambda q: lateness[min(len(lateness) - 1, int(q * len(lateness)))] * 1000  # noqa: E731
    return {
        "phase": name,
        "clocks": clocks,
        "ticks": counted,
        "p50_ms": p(0.50),
        "p99_ms": p(0.99),
        "max_ms": lateness[-1] * 1000,
        "mean_ms": statistics.mean(lateness) * 1000,
        "duplicates": duplicates,
        "missed": missed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=100, help="measured seconds per phase")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    from redis import Redis

    connection = Redis.from_url(args.redis_url)
    if connection.connection_pool.connection_kwargs.get("db", 0) == 0:
        sys.exit("refusing to flush Redis database 0: pass --redis-url with another database number")
    results = [
        run_phase("baseline: 1 clock", clocks=1, seconds=args.seconds, kill_one=False, redis_url=args.redis_url,
                  connection=connection),
        run_phase("3 clocks", clocks=3, seconds=args.seconds, kill_one=False, redis_url=args.redis_url,
                  connection=connection),
        run_phase("3 clocks, one kill -9 half-way", clocks=3, seconds=args.seconds, kill_one=True,
                  redis_url=args.redis_url, connection=connection),
    ]
    connection.flushdb()
    print(f"{'phase':34} {'ticks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'dupes':>6} {'missed':>7}")
    for r in results:
        print(f"{r['phase']:34} {r['ticks']:6d} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['max_ms']:8.1f} "
              f"{r['duplicates']:6d} {r['missed']:7d}")
    base = results[0]
    for r in results[1:]:
        print(f"{r['phase']}: p99 {r['p99_ms'] - base['p99_ms']:+.1f} ms against the baseline")
    ok = all(r["duplicates"] == 0 and r["missed"] == 0 and r["p99_ms"] < 1000 for r in results)
    print("targets (p99 < 1 s, zero duplicates, zero misses):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
