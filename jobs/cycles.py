"""Jobs for recruitment cycles: closing them after the apply deadline, and recalculating deadlines.

Both work over a whole cycle, so they fan out in keyset pages (``jobs.fanout``) and
continue in a follow-up job when a page budget is spent.
"""

import logging
from dataclasses import asdict

from apps.applications.actors import Actor
from apps.applications.cycles import applications_mark_not_sent as mark_not_sent
from apps.applications.cycles import applications_recalculate_deadlines as recalculate_deadlines
from apps.applications.selectors import (
    application_ids_unsubmitted,
    application_ids_with_live_deadlines,
    cycle_ids_to_close,
)
from jobs.arguments import an_id, id_list
from jobs.batching import release_claims, sweep_lease
from jobs.fanout import enqueue_fan_out, fan_out_cycle_pages

logger = logging.getLogger(__name__)


def cycles_close_due() -> dict:
    """Sweep (daily, 00:01): for each cycle whose apply deadline has passed, close its unsubmitted applications.

    Before the deadline there is nothing to select, so the entry acts only inside its window.
    """
    with sweep_lease("cycles_close_due") as held:
        if not held:
            logger.info("cycles_close_due skipped: another run holds the lease")
            return {"skipped": True}
        cycle_ids = cycle_ids_to_close()
        jobs = [
            enqueue_fan_out(
                queue="sweeps",
                func="jobs.cycles.cycle_close_fan_out",
                args=(cycle_id, 0),
                job_prefix=f"close-cycle-{cycle_id}",
            )
            for cycle_id in cycle_ids
        ]
    logger.info("cycles_close_due: cycles %s, fan-out jobs %s", cycle_ids, jobs)
    return {"cycles": cycle_ids, "jobs": jobs}


def cycle_close_fan_out(cycle_id, after_id=0) -> dict:
    """Enqueue batches of the cycle's unsubmitted applications (continues itself if there are many)."""
    cycle_id = an_id(cycle_id, name="cycle_id")
    fan_out = fan_out_cycle_pages(
        name="jobs.cycles.cycle_close_fan_out",
        cycle_id=cycle_id,
        after_id=an_id(after_id, name="after_id"),
        select_page=application_ids_unsubmitted,
        process="jobs.cycles.applications_mark_not_sent",
        batch_prefix="not-sent-batch",
        claim_kind="not-sent",
        continue_on="sweeps",
        continue_prefix="close-cycle",
    )
    logger.info("cycle_close_fan_out %s: %s", cycle_id, asdict(fan_out))
    return asdict(fan_out)


def applications_mark_not_sent(application_ids) -> dict:
    """Process job: unsubmitted → application_not_sent for the ids whose cycle's apply deadline has passed."""
    ids = id_list(application_ids, name="application_ids")
    result = mark_not_sent(application_ids=ids, actor=Actor.for_job("jobs.cycles.applications_mark_not_sent"))
    release_claims("not-sent", ids)
    logger.info("applications_mark_not_sent: %s", asdict(result))
    return asdict(result)


def cycle_deadlines_recalculate(cycle_id, after_id=0) -> dict:
    """Enqueued on commit when a cycle's non-working periods change: batches of its live applications."""
    cycle_id = an_id(cycle_id, name="cycle_id")
    fan_out = fan_out_cycle_pages(
        name="jobs.cycles.cycle_deadlines_recalculate",
        cycle_id=cycle_id,
        after_id=an_id(after_id, name="after_id"),
        select_page=application_ids_with_live_deadlines,
        process="jobs.cycles.applications_recalculate_deadlines",
        batch_prefix="recalculate-batch",
        continue_on="default",
        continue_prefix="recalculate-cycle",
    )
    logger.info("cycle_deadlines_recalculate %s: %s", cycle_id, asdict(fan_out))
    return asdict(fan_out)


def applications_recalculate_deadlines(application_ids) -> dict:
    """Process job: recalculate the live deadlines of the ids from their cycle's current calendar."""
    ids = id_list(application_ids, name="application_ids")
    result = recalculate_deadlines(
        application_ids=ids, actor=Actor.for_job("jobs.cycles.applications_recalculate_deadlines")
    )
    logger.info("applications_recalculate_deadlines: %s", asdict(result))
    return asdict(result)
