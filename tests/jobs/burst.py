"""Run a real worker process in burst mode: it works every queued job (and the jobs those
enqueue) and exits when the queues are empty."""

import sys

from rq.job import Job

from tests.processes import wait_until

QUEUES = ("sweeps", "default", "email", "email_bulk")


def burst_worker_args() -> list[str]:
    return [sys.executable, "manage.py", "rqworker", *QUEUES, "--burst"]


def run_burst_worker(processes, env, *, name: str = "worker", timeout: float = 90):
    worker = processes.start(name, burst_worker_args(), env)
    wait_until(lambda: worker.popen.poll() is not None, timeout=timeout, message=f"{name} to finish its burst")
    assert worker.popen.returncode == 0, worker.output()
    return worker


def failed_jobs(connection) -> dict[str, list[str]]:
    """Failed job ids per queue, with the error of each (for a readable assertion)."""
    import django_rq

    result = {}
    for queue_name in QUEUES:
        registry = django_rq.get_queue(queue_name).failed_job_registry
        ids = registry.get_job_ids()
        if ids:
            result[queue_name] = [
                f"{job.func_name}: {job.latest_result().exc_string if job.latest_result() else '?'}"
                for job in Job.fetch_many(ids, connection=connection)
                if job
            ]
    return result
