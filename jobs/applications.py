"""Jobs for the application rules. Thin: they take ids and call services in apps/."""

import logging
from dataclasses import asdict

from django.conf import settings

from apps.applications.actors import Actor
from apps.applications.selectors import application_ids_due_for_decline, application_ids_due_for_rejection
from apps.applications.services import applications_decline_by_default as decline_by_default
from apps.applications.services import applications_reject_by_default as reject_by_default
from jobs.arguments import id_list
from jobs.batching import claim_ids, enqueue_batches, release_claims, sweep_lease

logger = logging.getLogger(__name__)


def applications_reject_due() -> dict:
    """Sweep (every minute): enqueue batches of the applications past their reject-by-default deadline."""
    with sweep_lease("applications_reject_due") as held:
        if not held:
            logger.info("applications_reject_due skipped: another run holds the lease")
            return {"skipped": True}
        due = application_ids_due_for_rejection(limit=settings.APPLY_SWEEP_LIMIT)
        claimed = claim_ids("rbd", due)
        jobs = enqueue_batches(
            queue="default",
            func="jobs.applications.applications_reject_by_default",
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix="rbd-batch",
        )
        logger.info("applications_reject_due: %s due, %s enqueued in %s batches", len(due), len(claimed), len(jobs))
        return {"due": len(due), "enqueued": len(claimed), "batches": len(jobs)}


def applications_reject_by_default(application_ids) -> dict:
    """Process job: reject by default those of the given applications that are still due."""
    ids = id_list(application_ids, name="application_ids")
    result = reject_by_default(
        application_ids=ids, actor=Actor.for_job("jobs.applications.applications_reject_by_default")
    )
    release_claims("rbd", ids)
    logger.info("applications_reject_by_default: %s", asdict(result))
    return asdict(result)


def applications_decline_due() -> dict:
    """Sweep (every minute): enqueue batches of the offers past their decline-by-default deadline."""
    with sweep_lease("applications_decline_due") as held:
        if not held:
            logger.info("applications_decline_due skipped: another run holds the lease")
            return {"skipped": True}
        due = application_ids_due_for_decline(limit=settings.APPLY_SWEEP_LIMIT)
        claimed = claim_ids("dbd", due)
        jobs = enqueue_batches(
            queue="default",
            func="jobs.applications.applications_decline_by_default",
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix="dbd-batch",
        )
        logger.info("applications_decline_due: %s due, %s enqueued in %s batches", len(due), len(claimed), len(jobs))
        return {"due": len(due), "enqueued": len(claimed), "batches": len(jobs)}


def applications_decline_by_default(application_ids) -> dict:
    """Process job: decline by default those of the given offers that are still due."""
    ids = id_list(application_ids, name="application_ids")
    result = decline_by_default(
        application_ids=ids, actor=Actor.for_job("jobs.applications.applications_decline_by_default")
    )
    release_claims("dbd", ids)
    logger.info("applications_decline_by_default: %s", asdict(result))
    return asdict(result)
