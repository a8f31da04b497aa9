"""Jobs that deliver the email outbox."""

import logging
from dataclasses import asdict

from apps.outbox.selectors import outbox_email_ids_due
from apps.outbox.services import DELIVERY_BATCH_SIZE
from apps.outbox.services import outbox_emails_deliver as deliver
from jobs.arguments import id_list
from jobs.batching import enqueue_batches, sweep_lease

logger = logging.getLogger(__name__)


def outbox_emails_deliver_due() -> dict:
    """Sweep (every minute): the safety net for emails whose on-commit delivery job was lost."""
    with sweep_lease("outbox_emails_deliver_due") as held:
        if not held:
            return {"skipped": True}
        ids = outbox_email_ids_due(limit=5000)
        jobs = enqueue_batches(
            queue="email",
            func="jobs.outbox.outbox_emails_deliver",
            ids=ids,
            batch_size=DELIVERY_BATCH_SIZE,
            job_prefix="email-batch",
        )
        return {"due": len(ids), "batches": len(jobs)}


def outbox_emails_deliver(email_ids) -> dict:
    """Send the given outbox emails (each claimed with a lease; sent ones are skipped)."""
    result = deliver(email_ids=id_list(email_ids, name="email_ids"))
    logger.info("outbox_emails_deliver: %s", asdict(result))
    return asdict(result)


# Renamed (jobs/renamed.py): the old path stays for jobs queued under it.
outbox_deliver_due = outbox_emails_deliver_due
