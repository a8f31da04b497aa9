"""Jobs of recruitment cycles: closing them after the apply deadline, and recalculating deadlines.

Both work over a whole cycle, so a fan-out job pages through it by id (``Pages``) and
continues in a follow-up job when its time budget is spent.
"""

import logging
from dataclasses import asdict

from django.conf import settings

from apps.applications import cycles
from apps.applications.actors import Actor
from apps.applications.selectors import (
    application_ids_unsubmitted,
    application_ids_with_live_deadlines,
    cycle_ids_to_close,
)
from apps.core.queueing.arguments import an_id, an_id_after, id_list
from apps.core.queueing.batching import claim_ids, enqueue_batches, enqueue_follow_up, release_claims
from apps.core.queueing.pages import Pages
from apps.core.queueing.sweeps import sweep_lease, sweep_skipped
from apps.monitoring.counters import observed_process, observed_sweep

logger = logging.getLogger(__name__)


@observed_sweep("close_cycle")
def cycles_close_due() -> dict:
    """Sweep (daily, 00:01): for each cycle whose apply deadline has passed, close its unsubmitted applications.

    Before the deadline there is nothing to select, so the entry acts only inside its window.
    """
    with sweep_lease("cycles_close_due") as held:
        if not held:
            return sweep_skipped("cycles_close_due")
        cycle_ids = cycle_ids_to_close()
        jobs = [
            enqueue_follow_up(
                queue="sweeps", func=cycle_close_fan_out, args=(cycle_id, 0), job_prefix=f"close-cycle-{cycle_id}"
            )
            for cycle_id in cycle_ids
        ]
    logger.info("cycles_close_due: cycles %s, fan-out jobs %s", cycle_ids, jobs)
    return {"cycles": cycle_ids, "jobs": jobs}


def cycle_close_fan_out(cycle_id, after_id=0) -> dict:
    """Enqueue batches of the cycle's unsubmitted applications (continues itself if there are many)."""
    cycle_id = an_id(cycle_id, name="cycle_id")
    pages = Pages(after=an_id_after(after_id, name="after_id"))
    enqueued = batches = 0
    for after in pages:
        ids = pages.read(application_ids_unsubmitted(cycle_id=cycle_id, after_id=after, limit=pages.size))
        claimed = claim_ids("not-sent", ids)
        batches += len(
            enqueue_batches(
                queue="default",
                func=applications_mark_not_sent,
                ids=claimed,
                batch_size=settings.APPLY_BATCH_SIZE,
                job_prefix="not-sent-batch",
            )
        )
        enqueued += len(claimed)
    if pages.resume_after is not None:
        enqueue_follow_up(
            queue="sweeps",
            func=cycle_close_fan_out,
            args=(cycle_id, pages.resume_after),
            job_prefix=f"close-cycle-{cycle_id}",
        )
    result = {"selected": pages.selected, "enqueued": enqueued, "batches": batches, "resume_after": pages.resume_after}
    logger.info("cycle_close_fan_out %s: %s", cycle_id, result)
    return result


@observed_process("close_cycle")
def applications_mark_not_sent(application_ids) -> dict:
    """Batch job: unsubmitted → application_not_sent for the ids whose cycle's apply deadline has passed."""
    ids = id_list(application_ids, name="application_ids")
    result = cycles.applications_mark_not_sent(
        application_ids=ids, actor=Actor.for_job("jobs.cycles.applications_mark_not_sent")
    )
    release_claims("not-sent", ids)
    logger.info("applications_mark_not_sent: %s", asdict(result))
    return asdict(result)


def cycle_deadlines_recalculate(cycle_id, after_id=0) -> dict:
    """Enqueued on commit when a cycle's non-working periods change: batches of its live applications."""
    cycle_id = an_id(cycle_id, name="cycle_id")
    pages = Pages(after=an_id_after(after_id, name="after_id"))
    enqueued = batches = 0
    for after in pages:
        ids = pages.read(application_ids_with_live_deadlines(cycle_id=cycle_id, after_id=after, limit=pages.size))
        batches += len(
            enqueue_batches(
                queue="default",
                func=applications_recalculate_deadlines,
                ids=ids,
                batch_size=settings.APPLY_BATCH_SIZE,
                job_prefix="recalculate-batch",
            )
        )
        enqueued += len(ids)
    if pages.resume_after is not None:
        enqueue_follow_up(
            queue="default",
            func=cycle_deadlines_recalculate,
            args=(cycle_id, pages.resume_after),
            job_prefix=f"recalculate-cycle-{cycle_id}",
        )
    result = {"selected": pages.selected, "enqueued": enqueued, "batches": batches, "resume_after": pages.resume_after}
    logger.info("cycle_deadlines_recalculate %s: %s", cycle_id, result)
    return result


def applications_recalculate_deadlines(application_ids) -> dict:
    """Batch job: recalculate the live deadlines of the ids from their cycle's current calendar."""
    ids = id_list(application_ids, name="application_ids")
    result = cycles.applications_recalculate_deadlines(
        application_ids=ids, actor=Actor.for_job("jobs.cycles.applications_recalculate_deadlines")
    )
    logger.info("applications_recalculate_deadlines: %s", asdict(result))
    return asdict(result)
