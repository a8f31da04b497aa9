"""Jobs that deliver the email outbox."""

import logging
from dataclasses import asdict

from django.conf import settings
from rq import get_current_job

from apps.core.queueing.arguments import id_list
from apps.core.queueing.batching import enqueue_batches
from apps.core.queueing.sweeps import sweep_lease
from apps.core.redis import rq_queue_named
from apps.monitoring.counters import emails_recorded, observed_sweep
from apps.outbox import services
from apps.outbox.models import OutboxQueue

logger = logging.getLogger(__name__)


@observed_sweep("deliver_outbox")
def outbox_emails_deliver_due() -> dict:
    """Sweep (every minute): the safety net for emails whose on-commit delivery job was lost."""
    with sweep_lease("outbox_emails_deliver_due") as held:
        if not held:
            return {"skipped": True}
        busy = {queue for queue in OutboxQueue.values if rq_queue_named(queue).count}
        groups = services.outbox_emails_requeue(limit=5000, queues_busy=busy)
        batches = 0
        for queue, ids in groups.items():
            batches += len(
                enqueue_batches(
                    queue=queue,
                    func=outbox_emails_deliver,
                    ids=ids,
                    batch_size=settings.OUTBOX_BATCH_SIZE,
                    job_prefix="email-batch",
                )
            )
        requeued = sum(len(ids) for ids in groups.values())
        return {"requeued": requeued, "batches": batches, "queues_busy": sorted(busy)}


def outbox_emails_deliver(email_ids) -> dict:
    """Batch job: send the given outbox emails (claimed in one statement; sent or leased ones are skipped)."""
    result = services.outbox_emails_deliver(email_ids=id_list(email_ids, name="email_ids"))
    job = get_current_job()
    emails_recorded(job.origin if job is not None else "none", sent=result.sent, failed=result.failed + result.given_up)
    logger.info("outbox_emails_deliver: %s", asdict(result))
    return asdict(result)


# Renamed (jobs/renamed.py): the old path stays for jobs queued under it.
outbox_deliver_due = outbox_emails_deliver_due
