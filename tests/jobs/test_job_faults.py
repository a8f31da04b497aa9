"""Bad job arguments are not retried; a sweep's lease is short and only its owner frees it."""

import django_rq
import pytest
from rq import Retry
from rq.job import JobStatus

from apps.core.leases import Lease
from apps.core.queueing.sweeps import sweep_lease
from apps.core.redis import redis_connection
from jobs import applications
from tests.jobs.burst import run_burst_worker
from tests.processes import child_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.processes
def test_bad_arguments_end_the_job_once_with_a_clear_reason_and_no_retry(processes, redis_db):
    queue = django_rq.get_queue("default")
    job = queue.enqueue(
        "jobs.applications.applications_reject_by_default", "1,2,3", retry=Retry(max=3), job_id="bad-args"
    )
    worker = run_burst_worker(processes, child_env())
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert job.retries_left == 0
    assert "application_ids must be a list of positive integer ids, got '1,2,3'" in job.latest_result().exc_string
    assert queue.failed_job_registry.get_job_ids() == ["bad-args"]
    assert worker.output().count("bad job arguments, not retried") == 1


def test_a_sweep_lease_expires_just_after_the_job_timeout(settings):
    with sweep_lease("applications_reject_due") as held:
        assert held
        ttl_ms = redis_connection().pttl("apply:lease:sweep:applications_reject_due")
        assert 0 < ttl_ms <= (settings.JOB_TIMEOUT + 5) * 1000
    assert not redis_connection().exists("apply:lease:sweep:applications_reject_due")


def test_a_sweep_whose_lease_is_held_elsewhere_is_skipped_and_leaves_the_lease_alone():
    other = Lease(redis_connection(), "sweep:applications_reject_due", ttl_seconds=30)
    assert other.acquire()
    assert applications.applications_reject_due() == {"skipped": True}
    assert redis_connection().get("apply:lease:sweep:applications_reject_due").decode() == other.token
    assert other.release()
    assert applications.applications_reject_due()["due"] == 0


@pytest.mark.processes
def test_sigterm_lets_the_running_job_finish_then_the_worker_exits(processes, redis_db):
    """Warm shutdown: what `docker compose stop` does (SIGTERM, then SIGKILL after stop_grace_period)."""
    import json
    import signal
    import time

    from tests.processes import wait_until, worker_args
    from tests.slow_jobs import RUNS_KEY

    job = django_rq.get_queue("sweeps").enqueue("tests.slow_jobs.slow_sweep", 3, job_id="slow-one")
    worker = processes.start("worker", worker_args(), child_env())
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, timeout=30, message="the job to start")
    worker.popen.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    worker.popen.wait(timeout=35)
    assert worker.popen.returncode == 0
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert [json.loads(raw).get("end") for raw in redis_db.lrange(RUNS_KEY, 0, -1)][0] is not None
    assert time.monotonic() - stopped_at < 35  # within the worker's stop grace period in docker-compose.yml
    assert "warm shut down requested" in worker.output()


@pytest.mark.processes
def test_a_delayed_job_survives_a_worker_restart_and_runs_when_due(processes, redis_db):
    """enqueue_in/enqueue_at jobs live in Redis's scheduled registry, not in a process."""
    import time
    from datetime import timedelta

    from django.db import transaction
    from rq.registry import ScheduledJobRegistry

    from apps.core.enqueue import enqueue_in_on_commit
    from tests.processes import wait_until, worker_args
    from tests.slow_jobs import RUNS_KEY

    from rq.worker import Worker

    first = processes.start("worker", worker_args(), child_env())
    wait_until(lambda: Worker.all(connection=redis_db), timeout=30, message="the worker to start")
    with transaction.atomic():
        enqueue_in_on_commit("sweeps", timedelta(seconds=6), "tests.slow_jobs.slow_sweep", 0.1)
    queue = django_rq.get_queue("sweeps")
    assert ScheduledJobRegistry(queue=queue).count == 1  # what the dashboard's "scheduled" page lists
    assert first.stop() == 0  # the worker (and its scheduler) go away before the job is due
    time.sleep(7)
    assert redis_db.llen(RUNS_KEY) == 0
    processes.start("worker-again", worker_args(), child_env())
    wait_until(lambda: redis_db.llen(RUNS_KEY) == 1, timeout=30, message="the delayed job to run")
    assert ScheduledJobRegistry(queue=queue).count == 0
