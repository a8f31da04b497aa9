"""What RQ's registries in Redis say about the jobs: the one place monitoring reads them.

Failed jobs per queue (less the sweeps a killed worker abandoned, which the next tick
redoes) and the workers alive. Every function raises RedisError when Redis does not answer.
"""

from dataclasses import dataclass


from django.conf import settings
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.worker import Worker

from apps.core.redis import redis_connection, rq_queue_named

ABANDONED_SAMPLE = 500  # abandoned sweeps looked at per check: a handful normally


def _abandoned_sweep_ids() -> list[str]:
    """Clock sweeps RQ failed only because their worker died mid-run (``AbandonedJobError``).

    Not a problem for support: the next tick runs the sweep again, and a sweep re-derives
    its work from the database. A sweep that raised is not among these.
    """
    registry = rq_queue_named("sweeps").failed_job_registry
    ids = registry.get_job_ids(0, ABANDONED_SAMPLE - 1)
    abandoned = []
    for job in Job.fetch_many(ids, connection=registry.connection):
        if job is None or "clock_entry" not in job.meta:
            continue
        result = job.latest_result()
        if result is not None and AbandonedJobError.__name__ in (result.exc_string or ""):
            abandoned.append(job.id)
    return abandoned


@dataclass(frozen=True)
class FailedJobs:
    """RQ's failed registries, read once: what needs support per queue, and the abandoned sweeps left out."""

    per_queue: dict[str, int]
    abandoned_sweeps: int

    @property
    def total(self) -> int:
        return sum(self.per_queue.values())


def failed_jobs() -> FailedJobs:
    """Every failed process and delivery job and every sweep that raised, per queue; sweeps
    abandoned by a killed worker are counted apart (the next tick redoes them)."""
    counts = {name: rq_queue_named(name).failed_job_registry.count for name in settings.RQ_QUEUES}
    abandoned = len(_abandoned_sweep_ids()) if counts.get("sweeps") else 0
    counts["sweeps"] -= abandoned
    return FailedJobs(per_queue=counts, abandoned_sweeps=abandoned)


def failed_job_counts() -> dict[str, int]:
    """Jobs in RQ's failed registries that need support, per queue (``failed_jobs().per_queue``)."""
    return failed_jobs().per_queue


def worker_count() -> int:
    """Workers registered in Redis (each heartbeats; a dead one drops out)."""
    return Worker.count(connection=redis_connection())
