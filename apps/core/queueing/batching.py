"""Claims and batches: how a sweep or a fan-out hands ids to its batch job.

Claims keep an id from being queued twice while its batch waits; they expire, so the ids
of a batch lost with a killed worker are selected again (``APPLY_CLAIM_TTL_SECONDS``).
"""

import random
import uuid
from collections.abc import Callable

from django.conf import settings
from rq import Retry

from apps.core.leases import Lease
from apps.core.redis import redis_connection, rq_queue_named


def retry_with_jitter(*, attempts: int = 3, base_seconds: float = 10) -> Retry:
    """Exponential backoff (10 s, 20 s, 40 s, ...) with each wait drawn from 50-150 % of it.

    RQ's Retry has no jitter of its own: drawing the waits per job spreads the retries of
    many jobs that failed together (a database blip) instead of retrying them in lockstep.
    Retry waits are run by the worker's scheduler (``rqworker --with-scheduler``).
    """
    return Retry(
        max=attempts,
        interval=[max(1, round(base_seconds * 2**n * random.uniform(0.5, 1.5))) for n in range(attempts)],
    )


def claim_ids(kind: str, ids: list[int], ttl: int | None = None) -> list[int]:
    """Keep the ids not already claimed by a queued batch; claims expire so a lost batch is re-selected."""
    if not ids:
        return []
    ttl = ttl or settings.APPLY_CLAIM_TTL_SECONDS
    pipe = redis_connection().pipeline(transaction=False)
    for pk in ids:
        pipe.set(f"apply:claim:{kind}:{pk}", 1, nx=True, ex=ttl)
    return [pk for pk, won in zip(ids, pipe.execute()) if won]


def release_claims(kind: str, ids: list[int]) -> None:
    if ids:
        redis_connection().delete(*[f"apply:claim:{kind}:{pk}" for pk in ids])


def enqueue_batches(
    *, queue: str, func: Callable, ids: list[int], batch_size: int, job_prefix: str, lease: Lease | None = None
) -> list[str]:
    """Enqueue ``func(batch)`` for each batch of ids, all in one Redis pipeline; return the job ids.

    ``func`` is the job function itself: RQ stores its dotted path, so the path a queued job
    names is the function's own, and "go to definition" on the argument finds the batch job.

    With ``lease`` (a sweep's), the pipeline is a transaction that runs only while the lease
    is still ours (``Lease.guarded``): a sweep paused past its ttl enqueues nothing when it
    resumes, it raises ``LeaseLost`` instead.
    """
    if not ids:
        return []
    if lease is not None:
        lease.renew()
    rq_queue = rq_queue_named(queue)
    datas = [
        rq_queue.prepare_data(
            func,
            args=(ids[i : i + batch_size],),
            job_id=f"{job_prefix}-{uuid.uuid4().hex}",
            retry=retry_with_jitter(),
        )
        for i in range(0, len(ids), batch_size)
    ]
    if lease is None:
        return [job.id for job in rq_queue.enqueue_many(datas)]
    with rq_queue.connection.pipeline() as pipe, lease.guarded(pipe):
        jobs = rq_queue.enqueue_many(datas, pipeline=pipe)
    return [job.id for job in jobs]


def enqueue_follow_up(*, queue: str, func: Callable, args: tuple, job_prefix: str) -> str:
    """Enqueue one job (a fan-out, or its continuation) with a unique id under ``job_prefix``."""
    job = rq_queue_named(queue).enqueue_call(func, args=args, job_id=f"{job_prefix}-{uuid.uuid4().hex}")
    return job.id
