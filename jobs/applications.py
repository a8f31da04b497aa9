"""Jobs for the application rules. Thin: they take ids and call services in apps/."""

import logging
from collections.abc import Callable
from dataclasses import asdict

from django.conf import settings

from apps.applications.actors import Actor
from apps.applications.selectors import application_ids_due_for_decline, application_ids_due_for_rejection
from apps.applications.services import applications_decline_by_default as decline_by_default
from apps.applications.services import applications_reject_by_default as reject_by_default
from jobs.arguments import id_list
from jobs.batching import claim_ids, enqueue_batches, release_claims, sweep_lease

logger = logging.getLogger(__name__)


def _sweep(name: str, *, select_due: Callable[..., list[int]], claim_kind: str, process: str) -> dict:
    """Select the due ids, keep those no queued batch holds, enqueue them in batches of ``process``."""
    with sweep_lease(name) as held:
        if not held:
            logger.info("%s skipped: another run holds the lease", name)
            return {"skipped": True}
        due = select_due(limit=settings.APPLY_SWEEP_LIMIT)
        claimed = claim_ids(claim_kind, due)
        jobs = enqueue_batches(
            queue="default",
            func=f"jobs.applications.{process}",
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix=f"{claim_kind}-batch",
        )
        logger.info("%s: %s due, %s enqueued in %s batches", name, len(due), len(claimed), len(jobs))
        return {"due": len(due), "enqueued": len(claimed), "batches": len(jobs)}


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
        select_due=application_ids_due_for_rejection,
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
        select_due=application_ids_due_for_decline,
        claim_kind="dbd",
        process="applications_decline_by_default",
    )


def applications_decline_by_default(application_ids) -> dict:
    """Process job: decline by default those of the given offers that are still due."""
    return _process(
        application_ids, service=decline_by_default, claim_kind="dbd", job_name="applications_decline_by_default"
    )
