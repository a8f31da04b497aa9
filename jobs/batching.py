"""Fan-out helpers shared by the sweeps: claim ids, enqueue batches in one pipeline."""

import uuid

import django_rq
from rq import Retry

from apps.core.redis import redis_connection

CLAIM_TTL_SECONDS = 180
PROCESS_RETRY = Retry(max=3, interval=[10, 30, 90])


def claim_ids(kind: str, ids: list[int], ttl: int = CLAIM_TTL_SECONDS) -> list[int]:
    """Keep the ids not already claimed by a queued batch; claims expire so a lost batch is re-selected."""
    if not ids:
        return []
    pipe = redis_connection().pipeline(transaction=False)
    for pk in ids:
        pipe.set(f"apply:claim:{kind}:{pk}", 1, nx=True, ex=ttl)
    return [pk for pk, won in zip(ids, pipe.execute()) if won]


def release_claims(kind: str, ids: list[int]) -> None:
    if ids:
        redis_connection().delete(*[f"apply:claim:{kind}:{pk}" for pk in ids])


def enqueue_batches(*, queue: str, func: str, ids: list[int], batch_size: int, job_prefix: str) -> list[str]:
    """Enqueue ``func(batch)`` for each batch of ids, all in one Redis pipeline; return the job ids."""
    if not ids:
        return []
    rq_queue = django_rq.get_queue(queue)
    datas = [
        rq_queue.prepare_data(
            func,
            args=(ids[i : i + batch_size],),
            job_id=f"{job_prefix}-{uuid.uuid4().hex}",
            retry=PROCESS_RETRY,
        )
        for i in range(0, len(ids), batch_size)
    ]
    return [job.id for job in rq_queue.enqueue_many(datas)]
