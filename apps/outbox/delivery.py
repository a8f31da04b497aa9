"""Delivering outbox emails: claim a batch with a lease, send each in the shared cap, mark each sent.

- **Claim**: one statement leases the deliverable rows of the batch (token and expiry).
- **Fence**: before each group of ``OUTBOX_LEASE_CHECK_EVERY`` emails, and before any email
  after a second without a check (a sender paused, then resumed), the sender renews its lease
  on the rows still to send and sends only those it still holds: rows another sender took
  once the lease ran out are left to it.
- **Cap**: each send reserves a slot in the cap shared by every sender (``apps.outbox.rate``),
  time-critical emails before bulk.
- **Mark**: each email is marked sent in its own commit as soon as the provider accepted it,
  only where the lease is still ours: a crash sends at most the one email in flight again.
  On PostgreSQL that commit does not wait for its WAL flush (``synchronous_commit`` off for
  that transaction only, as ``SET LOCAL`` does, so it holds through PgBouncer in transaction
  mode): it is visible to every session at once and survives the worker's death; only a
  PostgreSQL crash can lose the last marks, and a lost mark is one duplicate, never a lost email.
- **Answers**: a temporary refusal backs off every sender and hands the rest of the batch to
  a job that runs after the backoff; a permanent one gives that email up with its reason;
  any other error backs that email off (the sweep retries it) and the batch goes on.
- **Time budget**: a job sends for at most ``OUTBOX_JOB_SECONDS``, then hands the rest to a
  new job at the back of its queue (so a worker is never held long, and a time-critical job
  waiting behind bulk gets the next free worker).
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core.queueing.batching import retry_with_jitter
from apps.core.redis import rq_queue_named
from apps.outbox import rate
from apps.outbox.models import OutboxEmail, OutboxQueue, OutboxStatus
from apps.outbox.rendering import outbox_email_render
from apps.outbox.senders import OutgoingEmail, PermanentRefusal, TemporaryRefusal, get_sender

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
DELIVERY_JOB = "jobs.outbox.outbox_emails_deliver"
#: Most seconds a bulk sender waits for a free slot before handing its batch back.
BULK_WAIT_SECONDS = 2.0
#: Most seconds between two lease checks (a sender paused longer checks before its next email).
LEASE_CHECK_SECONDS = 1.0


@dataclass
class DeliveryResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    given_up: int = 0
    handed_on: int = 0


def _db_now_plus(delta: timedelta):
    return ExpressionWrapper(Now() + delta, output_field=DateTimeField()) if delta else Now()


def _lease() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


def _claim(email_ids: list[int], token: str) -> list[OutboxEmail]:
    """Lease the deliverable ones among ``email_ids`` in one statement; return them.

    No index but the primary key can serve the statement (the sweep's partial index is on
    ``sweep_after``, which it does not filter on), so its plan does not depend on how many
    emails are pending or on how fresh the table's statistics are.
    """
    OutboxEmail.objects.filter(pk__in=email_ids, status=OutboxStatus.PENDING, available_at__lte=Now()).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=Now())
    ).update(lease_token=token, lease_until=_db_now_plus(_lease()), attempts=F("attempts") + 1)
    return list(OutboxEmail.objects.filter(pk__in=email_ids, lease_token=token).order_by("pk"))


class _Fence:
    """The rows of the batch this sender still holds, checked (and their lease renewed) per group."""

    def __init__(self, token: str, ids: list[int]):
        self.token = token
        self.held = set(ids)
        self.checked_at = time.monotonic()
        self.unchecked = 0

    def holds(self, pk: int, remaining: list[int]) -> bool:
        stale = time.monotonic() - self.checked_at >= LEASE_CHECK_SECONDS
        if self.unchecked >= settings.OUTBOX_LEASE_CHECK_EVERY or stale:
            # Renew first, then read: a row read back as ours has a fresh lease, so no other
            # sender can take it before this group is sent.
            mine = OutboxEmail.objects.filter(pk__in=remaining, lease_token=self.token, status=OutboxStatus.PENDING)
            mine.update(lease_until=_db_now_plus(_lease()))
            self.held = set(mine.values_list("pk", flat=True))
            self.checked_at = time.monotonic()
            self.unchecked = 0
        self.unchecked += 1
        return pk in self.held


def _mark_sent_sql() -> str:
    table = connection.ops.quote_name(OutboxEmail._meta.db_table)
    # set_config(..., true) is SET LOCAL as a function: one statement, one round trip.
    return (
        f"UPDATE {table} SET status = %s, sent_at = STATEMENT_TIMESTAMP(), lease_until = NULL, "
        "sweep_after = NULL, last_error = '' WHERE id = %s AND lease_token = %s "
        "AND (SELECT set_config('synchronous_commit', 'off', true)) = 'off'"
    )


def _mark_sent(pk: int, token: str) -> None:
    """One commit per email, only where the lease is ours (see the module docstring)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_mark_sent_sql(), [OutboxStatus.SENT.value, pk, token])
        return
    OutboxEmail.objects.filter(pk=pk, lease_token=token).update(
        status=OutboxStatus.SENT, sent_at=Now(), lease_until=None, sweep_after=None, last_error=""
    )


def _record_failure(email: OutboxEmail, token: str, exc: Exception) -> None:
    """Keep the lease for a backoff so the sweep retries later; give up after MAX_ATTEMPTS."""
    backoff = timedelta(seconds=min(3600, 30 * 2 ** min(email.attempts, 7)))
    given_up = email.attempts >= MAX_ATTEMPTS
    OutboxEmail.objects.filter(pk=email.pk, lease_token=token).update(
        lease_until=_db_now_plus(backoff),
        sweep_after=None if given_up else _db_now_plus(backoff),
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        status=OutboxStatus.FAILED if given_up else OutboxStatus.PENDING,
    )


def _give_up(email: OutboxEmail, token: str, refusal: PermanentRefusal) -> None:
    """The provider will never take it: failed for good, with the provider's answer for support."""
    OutboxEmail.objects.filter(pk=email.pk, lease_token=token).update(
        status=OutboxStatus.FAILED,
        lease_until=None,
        sweep_after=None,
        last_error=f"Refused by the provider: {refusal}"[:2000],
    )


def _hand_on(ids: list[int], token: str, queue: str, *, after: timedelta | None, reason: str) -> None:
    """Release ``ids`` (not an attempt) and queue a job for them, ``after`` from now if given.

    Only that job lists them (the sweep waits for ``sweep_after``, later), so releasing them
    at once lets it claim them even if the scheduler starts it a second early. If Redis
    cannot take the job, the rows wait for the outbox sweep."""
    if not ids:
        return
    delay = after or timedelta(0)
    OutboxEmail.objects.filter(pk__in=ids, lease_token=token).update(
        lease_until=None,
        attempts=F("attempts") - 1,
        sweep_after=_db_now_plus(delay + timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)),
    )
    try:
        rq_queue = rq_queue_named(queue)
        if after:
            rq_queue.enqueue_in(after, DELIVERY_JOB, ids, retry=retry_with_jitter())
        else:
            rq_queue.enqueue_call(DELIVERY_JOB, args=(ids,), retry=retry_with_jitter())
    except RedisError:
        logger.exception("%s: could not queue the rest of the batch; the outbox sweep will", reason)
    logger.info("%s: %s emails handed to a new delivery job", reason, len(ids))


def _outgoing(email: OutboxEmail) -> OutgoingEmail:
    subject, body_text, body_html = outbox_email_render(email)
    return OutgoingEmail(email.message_id, email.to, subject, body_text, body_html)


def outbox_emails_deliver(*, email_ids: list[int]) -> DeliveryResult:
    """Send the deliverable emails among ``email_ids`` over one connection (see the module docstring)."""
    token = uuid.uuid4().hex
    claimed = _claim(email_ids, token)
    result = DeliveryResult(skipped=len(email_ids) - len(claimed))
    if not claimed:
        return result
    queue = claimed[0].queue
    lane = "bulk" if queue == OutboxQueue.BULK else "urgent"
    ids = [email.pk for email in claimed]
    fence = _Fence(token, ids)
    rate.prepare_day(timezone.now())
    started = time.monotonic()
    sender = get_sender()
    try:
        for position, email in enumerate(claimed):
            rest = ids[position:]
            if not fence.holds(email.pk, rest):
                result.skipped += 1
                continue
            if time.monotonic() - started >= settings.OUTBOX_JOB_SECONDS:
                result.handed_on += len(rest)
                _hand_on(rest, token, queue, after=None, reason="time budget spent")
                break
            try:
                outgoing = _outgoing(email)  # rendered before its slot: sent right at it
            except Exception as exc:
                result.failed += 1
                logger.exception("email %s (%s) could not be rendered, attempt %s", email.pk, email.key, email.attempts)
                _record_failure(email, token, exc)
                continue
            slot = rate.wait_for_slot(lane=lane, now_fn=timezone.now, give_up_after=BULK_WAIT_SECONDS)
            if slot.outcome != "ok":
                result.handed_on += len(rest)
                _hand_on_refused_slot(slot, rest, token, queue)
                break
            try:
                sender.open()
            except Exception as exc:
                # The server cannot be reached: the rest of the batch backs off together
                # instead of trying a connection per email.
                logger.exception("email server unreachable; %s emails back off", len(rest))
                for waiting in claimed[position:]:
                    _record_failure(waiting, token, exc)
                result.failed += len(rest)
                break
            try:
                sender.send(outgoing)
            except TemporaryRefusal as refusal:
                pause = rate.back_off_sender()
                logger.warning("provider asked to back off (%s): every sender pauses %ss", refusal, pause)
                result.handed_on += len(rest)
                _hand_on(rest, token, queue, after=timedelta(seconds=pause), reason="temporary refusal")
                break
            except PermanentRefusal as refusal:
                result.given_up += 1
                logger.warning("email %s (%s) refused for good: %s", email.pk, email.key, refusal)
                _give_up(email, token, refusal)
                continue
            except Exception as exc:
                result.failed += 1
                logger.exception("email %s (%s) not sent, attempt %s", email.pk, email.key, email.attempts)
                _record_failure(email, token, exc)
                sender.close()  # the next email starts on a fresh connection
                continue
            _mark_sent(email.pk, token)
            result.sent += 1
    finally:
        sender.close()
    logger.info("emails sent: %s of %s claimed", result.sent, len(claimed))
    return result


def _hand_on_refused_slot(slot: rate.Reservation, rest: list[int], token: str, queue: str) -> None:
    if slot.outcome == "budget":
        now = timezone.now()
        until = rate.next_budget_day(now) - now
        logger.error("daily email budget (%s) spent: %s emails wait until midnight UTC", settings.EMAIL_DAILY_BUDGET, len(rest))
        _hand_on(rest, token, queue, after=until, reason="daily budget spent")
    elif slot.outcome == "backoff":
        _hand_on(rest, token, queue, after=timedelta(seconds=max(1.0, slot.wait)), reason="sender backing off")
    else:  # busy: time-critical emails hold the cap; bulk goes to the back of its queue, and the
        # worker takes any time-critical job waiting first (workers list `email` before `email_bulk`)
        _hand_on(rest, token, queue, after=None, reason="cap taken by time-critical emails")
