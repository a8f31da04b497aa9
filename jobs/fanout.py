"""Fan-out over a large set in keyset pages, within a time budget, continued by a follow-up job.

A sweep over a bounded "due now" set uses ``jobs.batching`` directly. Work over a whole
cycle (closing it, recalculating its deadlines) can be hundreds of thousands of ids: the
fan-out job pages through them by id, enqueues the batches, and when its budget is spent
it enqueues itself to continue after the last id, so no job comes near its timeout.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import django_rq
from django.conf import settings

from jobs.batching import claim_ids, enqueue_batches

BUDGET_SECONDS = 15


@dataclass
class FanOut:
    selected: int = 0
    enqueued: int = 0
    batches: int = 0
    resume_after: int | None = None  # set when the budget ran out before the last page


def fan_out_pages(
    *,
    select_page: Callable[[int, int], list[int]],
    after_id: int,
    queue: str,
    func: str,
    job_prefix: str,
    claim_kind: str | None = None,
    budget_seconds: float | None = None,
) -> FanOut:
    """Enqueue ``func(batch)`` for every id ``select_page(after_id, limit)`` yields, page after page."""
    result = FanOut()
    deadline = time.monotonic() + (BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    page_size = settings.APPLY_SWEEP_LIMIT
    while ids := select_page(after_id, page_size):
        result.selected += len(ids)
        chosen = claim_ids(claim_kind, ids) if claim_kind else ids
        jobs = enqueue_batches(
            queue=queue, func=func, ids=chosen, batch_size=settings.APPLY_BATCH_SIZE, job_prefix=job_prefix
        )
        result.enqueued += len(chosen)
        result.batches += len(jobs)
        after_id = ids[-1]
        if len(ids) < page_size:
            break
        if time.monotonic() > deadline:
            result.resume_after = after_id
            break
    return result


def enqueue_fan_out(*, queue: str, func: str, args: tuple, job_prefix: str) -> str:
    job = django_rq.get_queue(queue).enqueue_call(func, args=args, job_id=f"{job_prefix}-{uuid.uuid4().hex}")
    return job.id


def fan_out_cycle_pages(
    *,
    name: str,
    cycle_id: int,
    after_id: int,
    select_page: Callable[..., list[int]],
    process: str,
    batch_prefix: str,
    claim_kind: str | None = None,
    continue_on: str,
    continue_prefix: str,
) -> FanOut:
    """A cycle-wide fan-out job: page through ``select_page(cycle_id=, after_id=, limit=)``,
    enqueue ``process`` batches, and re-enqueue job ``name`` after the last id if the budget ran out."""
    fan_out = fan_out_pages(
        select_page=lambda after, limit: select_page(cycle_id=cycle_id, after_id=after, limit=limit),
        after_id=after_id,
        queue="default",
        func=process,
        job_prefix=batch_prefix,
        claim_kind=claim_kind,
    )
    if fan_out.resume_after is not None:
        enqueue_fan_out(
            queue=continue_on,
            func=name,
            args=(cycle_id, fan_out.resume_after),
            job_prefix=f"{continue_prefix}-{cycle_id}",
        )
    return fan_out
