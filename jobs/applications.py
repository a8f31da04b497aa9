"""Jobs for the application rules. Thin: they take ids and call services in apps/."""

import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from django.conf import settings

from apps.applications.actors import Actor
from apps.applications.selectors import Due, applications_due_for_decline, applications_due_for_rejection
from apps.applications.services import applications_decline_by_default as decline_by_default
from apps.applications.services import applications_reject_by_default as reject_by_default
from jobs.arguments import id_list
from jobs.batching import claim_ids, enqueue_batches, release_claims, sweep_lease

logger = logging.getLogger(__name__)


#: A sweep pages through what is due for at most this long (its job timeout is 25 s);
#: anything left is picked up by the next tick, a minute later.
SWEEP_BUDGET_SECONDS = 15


def _sweep(name: str, *, select_due: Callable[..., list[Due]], claim_kind: str, process: str) -> dict:
    """Page through the due ids (oldest deadline first), keep those no queued batch holds, enqueue them in batches.

    Pages of APPLY_SWEEP_LIMIT ids, one Redis pipeline each for the claims and for the
    batches, until nothing is due or the time budget is spent: a spike of 100,000 due is
    queued by one sweep, not one page per minute.
    """
    with sweep_lease(name) as held:
        if not held:
            logger.info("%s skipped: another run holds the lease", name)
            return {"skipped": True}
        stop_at = time.monotonic() + SWEEP_BUDGET_SECONDS
        due_count = enqueued = batches = 0
        after = None
        while True:
            page = select_due(limit=settings.APPLY_SWEEP_LIMIT, after=after)
            due_count += len(page)
            claimed = claim_ids(claim_kind, [due.pk for due in page])
            jobs = enqueue_batches(
                queue="default",
                func=f"jobs.applications.{process}",
                ids=claimed,
                batch_size=settings.APPLY_BATCH_SIZE,
                job_prefix=f"{claim_kind}-batch",
            )
            enqueued += len(claimed)
            batches += len(jobs)
            if len(page) < settings.APPLY_SWEEP_LIMIT or time.monotonic() > stop_at:
                break
            after = page[-1]
        logger.info("%s: %s due, %s enqueued in %s batches", name, due_count, enqueued, batches)
        return {"due": due_count, "enqueued": enqueued, "batches": batches}


def _process(application_ids, *, service, claim_kind: str, job_name: str) -> dict:
    ids = id_list(application_ids, name="application_ids")
    result = service(application_ids=ids, actor=Actor.for_job(f"jobs.applications.{job_name}"))
    release_claims(claim_kind, ids)
    logger.info("%s: %s", job_name, asdict(result))
    return asdict(result)


def applications_reject_due() -> dict:
    """Sweep (every minute): enqueue batches of the applications past their reject-by-default deadline."""
    return _sweep(
        "applications_reject_due",
        select_due=applications_due_for_rejection,
        claim_kind="rbd",
        process="applications_reject_by_default",
    )


def applications_reject_by_default(application_ids) -> dict:
    """Process job: reject by default those of the given applications that are still due."""
    return _process(
        application_ids, service=reject_by_default, claim_kind="rbd", job_name="applications_reject_by_default"
    )


def applications_decline_due() -> dict:
    """Sweep (every minute): enqueue batches of the offers past their decline-by-default deadline."""
    return _sweep(
        "applications_decline_due",
        select_due=applications_due_for_decline,
        claim_kind="dbd",
        process="applications_decline_by_default",
    )


def applications_decline_by_default(application_ids) -> dict:
    """Process job: decline by default those of the given offers that are still due."""
    return _process(
        application_ids, service=decline_by_default, claim_kind="dbd", job_name="applications_decline_by_default"
    )
