"""A sweep's lease and its result: the part every sweep job shares around its own selector."""

import logging

from django.conf import settings

from apps.core.leases import held_lease
from apps.core.redis import redis_connection

logger = logging.getLogger(__name__)


def sweep_lease(name: str):
    """Held while a sweep runs, so two runs never overlap (a "run now" next to a scheduled one).

    Yields the ``Lease`` (None if another run holds it). Its expiry
    (``APPLY_SWEEP_LEASE_SECONDS``) is just past the job timeout: a lease left by a killed
    worker blocks the sweep no longer than the job itself could have run. A paged sweep
    renews it before each page and enqueues each page under it (``enqueue_batches(lease=)``),
    so a sweep paused or cut off past the expiry enqueues nothing more when it resumes: it
    raises ``LeaseLost``, and ``observed_sweep`` ends it as ``lease_lost``.
    """
    return held_lease(redis_connection(), f"sweep:{name}", ttl_seconds=settings.APPLY_SWEEP_LEASE_SECONDS)


def sweep_skipped(name: str) -> dict:
    """The result of a sweep that found its lease held by another run (the metrics count it as a skip)."""
    logger.info("%s skipped: another run holds the lease", name)
    return {"skipped": True}


def sweep_done(name: str, *, due: int, enqueued: int, batches: int) -> dict:
    """The result of a sweep: how many were due, how many it enqueued (not claimed already), in how many batches."""
    logger.info("%s: %s due, %s enqueued in %s batches", name, due, enqueued, batches)
    return {"due": due, "enqueued": enqueued, "batches": batches}
