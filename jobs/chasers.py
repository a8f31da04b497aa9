"""Jobs for the chasers: hourly sweeps that fan out batches, and the batches that send them.

Who is chased is decided by the selector the sweep calls and re-checked by the service
in each batch; these jobs only move ids.
"""

import logging
from dataclasses import asdict

from django.conf import settings
from django.utils import timezone

from apps.applications.actors import Actor
from apps.applications.chasers import applications_chase
from apps.applications.models import ChaserKind
from apps.applications.selectors import application_ids_due_for_chaser
from jobs.arguments import id_list
from jobs.batching import claim_ids, enqueue_batches, release_claims, sweep_lease

logger = logging.getLogger(__name__)

PROCESS_JOBS = {
    ChaserKind.PROVIDER: "jobs.chasers.applications_chase_providers",
    ChaserKind.CANDIDATE: "jobs.chasers.applications_chase_candidates",
}


def _sweep(kind: str) -> dict:
    name = f"applications_chase_{kind}s_due"
    with sweep_lease(name) as held:
        if not held:
            logger.info("%s skipped: another run holds the lease", name)
            return {"skipped": True}
        due = application_ids_due_for_chaser(kind=kind, now=timezone.now(), limit=settings.APPLY_SWEEP_LIMIT)
        claimed = claim_ids(f"chaser-{kind}", due)
        jobs = enqueue_batches(
            queue="default",
            func=PROCESS_JOBS[kind],
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix=f"chaser-{kind}-batch",
        )
        logger.info("%s: %s due, %s enqueued in %s batches", name, len(due), len(claimed), len(jobs))
        return {"due": len(due), "enqueued": len(claimed), "batches": len(jobs)}


def _process(kind: str, application_ids) -> dict:
    ids = id_list(application_ids, name="application_ids")
    result = applications_chase(
        kind=kind, application_ids=ids, actor=Actor.for_job(PROCESS_JOBS[kind]), now=timezone.now()
    )
    release_claims(f"chaser-{kind}", ids)
    logger.info("%s: %s", PROCESS_JOBS[kind], asdict(result))
    return asdict(result)


def applications_chase_providers_due() -> dict:
    """Sweep (hourly): applications awaiting a decision whose RBD is inside the provider chaser window."""
    return _sweep(ChaserKind.PROVIDER)


def applications_chase_candidates_due() -> dict:
    """Sweep (hourly): offers whose DBD is inside the candidate chaser window."""
    return _sweep(ChaserKind.CANDIDATE)


def applications_chase_providers(application_ids) -> dict:
    """Process job: send the provider chaser for those of the ids still inside the window and not yet chased."""
    return _process(ChaserKind.PROVIDER, application_ids)


def applications_chase_candidates(application_ids) -> dict:
    """Process job: send the candidate chaser for those of the ids still inside the window and not yet chased."""
    return _process(ChaserKind.CANDIDATE, application_ids)
