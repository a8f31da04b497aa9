"""Fencing: a sweep or a clock paused past its lease (real SIGSTOP, then SIGCONT) does no
more under it when it resumes. Real worker and clock processes, started with the Procfile's
commands; every wait is bounded and waits for a condition."""

import json
import os
import signal
import time
from datetime import datetime, timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from rq.job import Job

from apps.applications.models import Application, ApplicationEvent, ApplicationState
from apps.core.leases import Lease, LeaseLost
from apps.core.redis import redis_connection, rq_queue_named
from apps.monitoring import counters
from apps.scheduling import runner
from apps.scheduling.runner import Clock
from apps.scheduling.timetable import Entry
from tests.factories import make_course, make_cycle, make_user
from tests.processes import child_env, clock_args, wait_until, worker_args

S = ApplicationState
DUE = 2000
PAGE = 10  # ids per sweep page: 200 pages, so the sweep is surely mid-way when it is stopped
LEASE_SECONDS = 2
LEASE_KEY = "apply:lease:sweep:applications_reject_due"


def seed_due(count: int) -> None:
    course, cycle = make_course(), make_cycle()
    candidate = make_user()
    due = timezone.now() - timedelta(minutes=1)
    Application.objects.bulk_create(
        Application(candidate=candidate, course=course, provider_id=course.provider_id, cycle=cycle,
                    state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=due)
        for _ in range(count)
    )


def metric(name: str) -> float:
    return float(redis_connection().hget(counters.KEY, name) or 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
@pytest.mark.timeout(180)
def test_a_sweep_paused_past_its_lease_enqueues_nothing_more_when_it_resumes(processes, redis_db):
    seed_due(DUE)
    env = child_env(
        APPLY_SWEEP_LIMIT=PAGE, APPLY_BATCH_SIZE=PAGE, APPLY_SWEEP_LEASE_SECONDS=LEASE_SECONDS,
        # Claims shorter than the pause: without the fence, the resumed sweep would claim and
        # enqueue its next pages again (the claims alone would not stop it).
        APPLY_CLAIM_TTL_SECONDS=1, LOG_LEVEL="INFO",
    )
    default = rq_queue_named("default")
    paused = processes.start("paused", worker_args("sweeps"), env)
    first = rq_queue_named("sweeps").enqueue("jobs.applications.applications_reject_due")
    wait_until(lambda: default.count >= 20, timeout=60, interval=0.005, message="the sweep's first pages")
    os.kill(paused.pid, signal.SIGSTOP)  # the worker and its job, mid-sweep
    try:
        stopped_at = default.count
        assert first.get_status(refresh=True).value == "started"
        assert stopped_at < DUE // PAGE, "the sweep finished before it could be stopped: make the pages smaller"
        # Past the ttl the lease is gone; another worker's sweep takes it and does the rest.
        wait_until(lambda: not redis_db.exists(LEASE_KEY), timeout=LEASE_SECONDS + 5, interval=0.05,
                   message="the lease to expire")
        other = processes.start("other", worker_args("sweeps"), env)
        second = rq_queue_named("sweeps").enqueue("jobs.applications.applications_reject_due")
        wait_until(lambda: second.get_status(refresh=True).value == "finished", timeout=60,
                   message="the second sweep")
        assert second.return_value()["due"] > 0
        time.sleep(1.5)  # every claim made so far has expired: only the fence can stop the paused one now
        before_resume = default.count
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    wait_until(lambda: first.get_status(refresh=True).value in ("finished", "failed"), timeout=30,
               message="the resumed sweep to end")
    result = first.return_value()
    assert result and result["lease_lost"] is True, result
    assert default.count == before_resume, "the resumed sweep enqueued pages after losing its lease"
    assert metric("leases_lost|sweep:applications_reject_due") == 1
    assert metric("sweep_runs|reject_by_default|lease_lost") == 1
    print(f"fencing: stopped after {stopped_at} of {DUE // PAGE} pages, the other sweep left {before_resume} batches"
          f" queued; the resumed one added {default.count - before_resume}")
    lines = [json.loads(line) for line in paused.output().splitlines() if line.startswith("{")]
    assert any("lost" in line["message"] and "stopping" in line["message"] for line in lines), paused.output()[-2000:]
    assert other.stop() == 0

    # The work itself: every due application rejected once, with one event.
    processes.start("drain", worker_args("default"), env)
    wait_until(lambda: not Application.objects.exclude(state=S.REJECTED).exists(), timeout=120,
               message="every application rejected")
    events = ApplicationEvent.objects.values("application_id").annotate(n=Count("id"))
    assert events.count() == DUE and {row["n"] for row in events} == {1}


def test_lease_check_and_renew_raise_once_the_lease_is_lost(redis_db):
    lease = Lease(redis_connection(), "test:fence", ttl_seconds=5)
    assert lease.acquire()
    lease.check()
    assert lease.renew()
    redis_db.set(lease.key, "someone-else")  # it expired and another process took it
    with pytest.raises(LeaseLost):
        lease.check()
    with pytest.raises(LeaseLost, match="lost earlier"):
        lease.renew()
    assert redis_db.get(lease.key) == b"someone-else"  # ours to release no more
    assert not lease.release()
    assert metric("leases_lost|test:fence") == 1


def test_a_write_guarded_by_a_lost_lease_writes_nothing(redis_db):
    lease = Lease(redis_connection(), "test:guarded", ttl_seconds=5)
    assert lease.acquire()
    with redis_connection().pipeline() as pipe, lease.guarded(pipe):
        pipe.set("apply:test:written", 1)
    assert redis_db.get("apply:test:written") == b"1"
    redis_db.delete(lease.key)  # expired
    with pytest.raises(LeaseLost), redis_connection().pipeline() as pipe, lease.guarded(pipe):
        pipe.set("apply:test:written", 2)
    assert redis_db.get("apply:test:written") == b"1"


def test_a_lease_past_its_ttl_by_our_own_clock_counts_as_lost_even_if_redis_still_has_it(redis_db):
    lease = Lease(redis_connection(), "test:local", ttl_seconds=1)
    assert lease.acquire()
    redis_db.persist(lease.key)  # Redis has not expired it (yet): our monotonic clock still rules
    time.sleep(1)
    with pytest.raises(LeaseLost, match="ran out"):
        lease.check()


@pytest.mark.django_db
def test_a_clock_poll_that_stalled_claims_nothing_from_its_stale_time(redis_db, monkeypatch):
    entry = Entry(name="every_second", schedule="* * * * * *", tz="UTC", job="jobs.maintenance.sessions_clear_expired",
                  queue="sweeps", why="test", skip_if_running=False)
    clock = Clock([entry], redis_connection(), clock_id="stalled")
    clock.run_once()  # registers the entry at its latest past tick
    wait_until(lambda: clock.run_once() != [], timeout=5, interval=0.1, message="a tick claimed")
    claimed = rq_queue_named("sweeps").count
    monkeypatch.setattr(runner, "STALL_SECONDS", -1.0)  # every poll now "stalled" before its claim
    time.sleep(1.1)
    assert clock.run_once() == []
    assert rq_queue_named("sweeps").count == claimed
    assert metric("clock_stalls") == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
@pytest.mark.timeout(120)
def test_a_clock_paused_past_the_other_clocks_ticks_enqueues_none_of_them_again(processes, redis_db):
    env = child_env(CLOCK_TIMETABLE="tests.clock_timetables.EVERY_SECOND", CLOCK_POLL_INTERVAL="0.05")
    clocks = [processes.start(f"clock{n}", clock_args(), env) for n in range(2)]
    queue = rq_queue_named("sweeps")
    wait_until(lambda: queue.count >= 4, timeout=30, message="the first ticks")
    os.kill(clocks[0].pid, signal.SIGSTOP)
    try:
        during = queue.count
        wait_until(lambda: queue.count >= during + 4, timeout=30, message="ticks by the other clock")
    finally:
        os.kill(clocks[0].pid, signal.SIGCONT)
    resumed = queue.count
    wait_until(lambda: queue.count >= resumed + 4, timeout=30, message="ticks after the resume")
    for clock in clocks:
        assert clock.stop() == 0
    job_ids = queue.get_job_ids()
    assert len(job_ids) == len(set(job_ids)), "a tick was enqueued twice"
    ticks = sorted(Job.fetch(job_id, connection=redis_db).meta["tick"] for job_id in job_ids
                   if job_id.startswith("clock-every_second-"))
    moments = [datetime.fromisoformat(tick) for tick in ticks]
    gaps = [(a, b) for a, b in zip(moments, moments[1:]) if b - a != timedelta(seconds=1)]
    assert len(moments) >= 7 and gaps == [], gaps
