"""Jobs of the reject-by-default and decline-by-default rules. Thin: a sweep selects what is
due and enqueues batches of ids; a batch job calls its service, which re-checks each one."""

import logging
from dataclasses import asdict

from django.conf import settings

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.selectors import applications_due_for_decline, applications_due_for_rejection
from apps.core.queueing.arguments import id_list
from apps.core.queueing.batching import claim_ids, enqueue_batches, release_claims
from apps.core.queueing.pages import Pages
from apps.core.queueing.sweeps import sweep_done, sweep_lease, sweep_skipped
from apps.monitoring.counters import observed_process, observed_sweep

logger = logging.getLogger(__name__)


@observed_sweep("reject_by_default")
def applications_reject_due() -> dict:
    """Sweep (every minute): enqueue batches of the applications past their reject-by-default deadline.

    Oldest deadline first, page after page, until nothing is due or the time budget is spent
    (``Pages``); ids a queued batch already holds are left out (``claim_ids``). Each page is
    enqueued only while the sweep still holds its lease (renewed before each page): a sweep
    paused past the lease's ttl stops when it resumes (``LeaseLost``), enqueueing nothing more.
    """
    with sweep_lease("applications_reject_due") as lease:
        if lease is None:
            return sweep_skipped("applications_reject_due")
        pages = Pages()
        enqueued = batches = 0
        for after in pages:
            lease.renew()  # LeaseLost if paused or cut off past its ttl: no more pages
            due = pages.read(applications_due_for_rejection(limit=pages.size, after=after))
            claimed = claim_ids("rbd", [application.pk for application in due])
            batches += len(
                enqueue_batches(
                    queue="default",
                    func=applications_reject_by_default,
                    ids=claimed,
                    batch_size=settings.APPLY_BATCH_SIZE,
                    job_prefix="rbd-batch",
                    lease=lease,
                )
            )
            enqueued += len(claimed)
        return sweep_done("applications_reject_due", due=pages.selected, enqueued=enqueued, batches=batches)


@observed_process("reject_by_default")
def applications_reject_by_default(application_ids) -> dict:
    """Batch job: reject by default those of the given applications that are still due."""
    ids = id_list(application_ids, name="application_ids")
    result = services.applications_reject_by_default(
        application_ids=ids, actor=Actor.for_job("jobs.applications.applications_reject_by_default")
    )
    release_claims("rbd", ids)
    logger.info("applications_reject_by_default: %s", asdict(result))
    return asdict(result)


@observed_sweep("decline_by_default")
def applications_decline_due() -> dict:
    """Sweep (every minute): enqueue batches of the offers past their decline-by-default deadline.

    Paged and claimed as ``applications_reject_due``.
    """
    with sweep_lease("applications_decline_due") as lease:
        if lease is None:
            return sweep_skipped("applications_decline_due")
        pages = Pages()
        enqueued = batches = 0
        for after in pages:
            lease.renew()  # LeaseLost if paused or cut off past its ttl: no more pages
            due = pages.read(applications_due_for_decline(limit=pages.size, after=after))
            claimed = claim_ids("dbd", [application.pk for application in due])
            batches += len(
                enqueue_batches(
                    queue="default",
                    func=applications_decline_by_default,
                    ids=claimed,
                    batch_size=settings.APPLY_BATCH_SIZE,
                    job_prefix="dbd-batch",
                    lease=lease,
                )
            )
            enqueued += len(claimed)
        return sweep_done("applications_decline_due", due=pages.selected, enqueued=enqueued, batches=batches)


@observed_process("decline_by_default")
def applications_decline_by_default(application_ids) -> dict:
    """Batch job: decline by default those of the given offers that are still due."""
    ids = id_list(application_ids, name="application_ids")
    result = services.applications_decline_by_default(
        application_ids=ids, actor=Actor.for_job("jobs.applications.applications_decline_by_default")
    )
    release_claims("dbd", ids)
    logger.info("applications_decline_by_default: %s", asdict(result))
    return asdict(result)
