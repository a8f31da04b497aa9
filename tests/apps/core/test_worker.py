"""The worker class: jobs run in the worker's process (no fork per job), yet a hung job is
stopped at its timeout and a leaking worker is replaced. Real worker processes, real Redis."""

import sys

import django_rq
import pytest
from rq.job import JobStatus

from tests.processes import child_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def _worker_args(*extra: str) -> list[str]:
    return [sys.executable, "manage.py", "rqworker", "default", *extra]


def test_a_hung_job_is_stopped_at_its_timeout_and_the_worker_goes_on(processes):
    queue = django_rq.get_queue("default")
    hung = queue.enqueue("tests.worker_jobs.hang", 60, job_timeout=1)
    after = queue.enqueue("tests.worker_jobs.pid")

    worker = processes.start("worker", _worker_args("--burst"), child_env())
    wait_until(lambda: worker.popen.poll() is not None, timeout=60, message="the burst worker to finish")

    assert worker.popen.returncode == 0, worker.output()
    hung.refresh()
    after.refresh()
    assert hung.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in hung.latest_result().exc_string
    # The next job ran in the same worker process: no fork, and the worker survived.
    assert after.get_status() == JobStatus.FINISHED
    assert after.return_value() == worker.pid


def test_a_worker_that_grew_past_its_memory_limit_exits_after_the_job_and_loses_nothing(processes):
    queue = django_rq.get_queue("default")
    small = queue.enqueue("tests.worker_jobs.pid")  # a worker is ~60 MB: under the limit
    leaking = queue.enqueue("tests.worker_jobs.leak", 200)
    waiting = queue.enqueue("tests.worker_jobs.pid")

    # Not in burst mode: the worker leaves on its own, because of its memory.
    worker = processes.start("worker", _worker_args(), child_env(WORKER_MAX_RSS_MB=160))
    wait_until(lambda: worker.popen.poll() is not None, timeout=60, message="the leaking worker to exit")

    assert worker.popen.returncode == 0, worker.output()
    assert "over WORKER_MAX_RSS_MB=160" in worker.output()
    assert small.get_status(refresh=True) == JobStatus.FINISHED
    assert leaking.get_status(refresh=True) == JobStatus.FINISHED
    assert small.return_value() == leaking.return_value() == worker.pid
    assert waiting.get_status(refresh=True) == JobStatus.QUEUED  # left for a fresh worker

    fresh = processes.start("fresh", _worker_args("--burst"), child_env())
    wait_until(lambda: fresh.popen.poll() is not None, timeout=60, message="a fresh worker to run the rest")
    assert waiting.get_status(refresh=True) == JobStatus.FINISHED
    assert waiting.return_value() == fresh.pid
