"""Jobs of the chasers: hourly sweeps that fan out batches, and the batches that send them.

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
from apps.core.queueing.arguments import id_list
from apps.core.queueing.batching import claim_ids, enqueue_batches, release_claims
from apps.core.queueing.sweeps import sweep_done, sweep_lease, sweep_skipped
from apps.monitoring.counters import observed_process, observed_sweep

logger = logging.getLogger(__name__)


@observed_sweep("chase_providers")
def applications_chase_providers_due() -> dict:
    """Sweep (hourly): applications awaiting a decision whose RBD is inside the provider chaser window."""
    with sweep_lease("applications_chase_providers_due") as lease:
        if lease is None:
            return sweep_skipped("applications_chase_providers_due")
        due = application_ids_due_for_chaser(
            kind=ChaserKind.PROVIDER, now=timezone.now(), limit=settings.APPLY_SWEEP_LIMIT
        )
        claimed = claim_ids("chaser-provider", due)
        batches = enqueue_batches(
            queue="default",
            func=applications_chase_providers,
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix="chaser-provider-batch",
            lease=lease,
        )
        return sweep_done("applications_chase_providers_due", due=len(due), enqueued=len(claimed), batches=len(batches))


@observed_process("chase_providers")
def applications_chase_providers(application_ids) -> dict:
    """Batch job: send the provider chaser for those of the ids still inside the window and not yet chased."""
    ids = id_list(application_ids, name="application_ids")
    result = applications_chase(
        kind=ChaserKind.PROVIDER,
        application_ids=ids,
        actor=Actor.for_job("jobs.chasers.applications_chase_providers"),
        now=timezone.now(),
    )
    release_claims("chaser-provider", ids)
    logger.info("applications_chase_providers: %s", asdict(result))
    return asdict(result)


@observed_sweep("chase_candidates")
def applications_chase_candidates_due() -> dict:
    """Sweep (hourly): offers whose DBD is inside the candidate chaser window."""
    with sweep_lease("applications_chase_candidates_due") as lease:
        if lease is None:
            return sweep_skipped("applications_chase_candidates_due")
        due = application_ids_due_for_chaser(
            kind=ChaserKind.CANDIDATE, now=timezone.now(), limit=settings.APPLY_SWEEP_LIMIT
        )
        claimed = claim_ids("chaser-candidate", due)
        batches = enqueue_batches(
            queue="default",
            func=applications_chase_candidates,
            ids=claimed,
            batch_size=settings.APPLY_BATCH_SIZE,
            job_prefix="chaser-candidate-batch",
            lease=lease,
        )
        return sweep_done(
            "applications_chase_candidates_due", due=len(due), enqueued=len(claimed), batches=len(batches)
        )


@observed_process("chase_candidates")
def applications_chase_candidates(application_ids) -> dict:
    """Batch job: send the candidate chaser for those of the ids still inside the window and not yet chased."""
    ids = id_list(application_ids, name="application_ids")
    result = applications_chase(
        kind=ChaserKind.CANDIDATE,
        application_ids=ids,
        actor=Actor.for_job("jobs.chasers.applications_chase_candidates"),
        now=timezone.now(),
    )
    release_claims("chaser-candidate", ids)
    logger.info("applications_chase_candidates: %s", asdict(result))
    return asdict(result)
