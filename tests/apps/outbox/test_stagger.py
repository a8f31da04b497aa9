"""Staggered bulk (apps/outbox/stagger.py) and bulk's share of the cap (apps/outbox/rate.py)."""

from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from rq.registry import ScheduledJobRegistry

from apps.outbox.models import OutboxEmail, OutboxQueue
from apps.outbox.services import Email, outbox_emails_add, outbox_emails_deliver, outbox_emails_requeue
from tests.factories import make_application

pytestmark = pytest.mark.django_db


def _emails(prefix: str, count: int, queue=OutboxQueue.BULK) -> list[Email]:
    application = make_application()
    context = {"application": application, "candidate": application.candidate, "course": application.course,
               "provider": application.course.provider}
    return [Email(key=f"{prefix}:{n}", to=["b@example.com"], template="rejected_by_default_candidate",
                  context=context, queue=queue) for n in range(count)]


def _due_in(prefix: str) -> list[float]:
    """Seconds from each email's creation to when it is due, per email (database times)."""
    rows = OutboxEmail.objects.filter(key__startswith=f"{prefix}:").order_by("pk")
    return [(row.available_at - row.created_at).total_seconds() for row in rows]


@pytest.mark.django_db(transaction=True)
def test_the_bulk_emails_of_one_write_are_spread_over_the_window_batch_by_batch(settings):
    settings.OUTBOX_BATCH_SIZE, settings.EMAIL_BULK_WINDOW_SECONDS = 10, 300
    with transaction.atomic():
        outbox_emails_add(emails=_emails("bulk", 30) + _emails("urgent", 5, queue=OutboxQueue.URGENT))

    offsets = sorted(_due_in("bulk"))
    batches = [offsets[i:i + 10] for i in range(0, 30, 10)]
    assert all(max(batch) - min(batch) < 1 for batch in batches)  # a batch is due at once
    starts = [min(batch) for batch in batches]
    assert 0 <= starts[0] < 100 and starts[2] < 300
    assert starts[1] - starts[0] == pytest.approx(100, abs=1) and starts[2] - starts[1] == pytest.approx(100, abs=1)
    assert max(_due_in("urgent")) < 1  # time-critical emails are never staggered
    for row in OutboxEmail.objects.filter(key__startswith="bulk:"):
        assert (row.sweep_after - row.available_at).total_seconds() == pytest.approx(
            settings.OUTBOX_REQUEUE_AFTER_SECONDS, abs=1)  # the sweep waits for them as long
    bulk = django_rq.get_queue("email_bulk")
    assert (bulk.count, ScheduledJobRegistry(queue=bulk).count) == (0, 3)  # each batch's job at its time
    assert django_rq.get_queue("email").count == 1


def test_a_staggered_email_is_neither_sent_nor_swept_before_it_is_due(smtp, settings):
    settings.EMAIL_BULK_WINDOW_SECONDS = 600
    settings.OUTBOX_BATCH_SIZE = 1
    outbox_emails_add(emails=_emails("later", 2))
    later = OutboxEmail.objects.filter(key__startswith="later:").order_by("available_at").last()

    assert outbox_emails_deliver(email_ids=[later.pk]).skipped == 1
    assert outbox_emails_requeue(limit=10) == {}
    assert smtp.messages == []


def test_without_a_window_bulk_is_due_at_once(settings):
    settings.EMAIL_BULK_WINDOW_SECONDS = 0
    outbox_emails_add(emails=_emails("now", 3))
    assert max(_due_in("now")) < 1


def test_bulk_senders_take_at_most_their_share_of_the_cap(smtp, settings):
    # The cap: one every 51 ms; bulk may take half of it, so one every 102 ms.
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE, settings.EMAIL_BULK_MAX_PERCENT = 20, 0, 50
    outbox_emails_add(emails=_emails("share", 11))
    ids = list(OutboxEmail.objects.filter(key__startswith="share:").values_list("pk", flat=True))

    assert outbox_emails_deliver(email_ids=ids).sent == 11

    received = sorted(smtp.first_received_at.values())
    # Ten of bulk's own intervals: the eleven span more than a second (at the whole cap, 0.51 s).
    assert received[-1] - received[0] > 1.0


def test_the_bulk_share_must_be_a_percentage():
    import os
    import subprocess
    import sys

    env = {**os.environ, "EMAIL_BULK_MAX_PERCENT": "0", "DJANGO_SECRET_KEY": "x" * 50}
    done = subprocess.run([sys.executable, "-c", "import config.settings"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "EMAIL_BULK_MAX_PERCENT must be between 1 and 100, got 0" in done.stderr


def test_the_time_to_empty_counts_the_window_and_bulk_share():
    from apps.monitoring.health import Drain

    # Nothing due yet, 100 staggered, the last due in 300 s: not before then.
    assert Drain("emails: bulk", 0, None, 0, cap_per_second=5, due_later=100, last_due_in=300).seconds_to_empty == 300
    # 300 due and 300 later at a 10/s cap of which bulk may take half: 600 / 5 = 120 s.
    drain = Drain("emails: bulk", 300, None, 600, cap_per_second=10, lane_cap_per_second=5, due_later=300)
    assert drain.seconds_to_empty == 120


def test_health_shows_staggered_emails_as_due_later(settings):
    from apps.monitoring.health import _drains

    settings.EMAIL_BULK_WINDOW_SECONDS, settings.OUTBOX_BATCH_SIZE = 600, 1
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 0, 0
    outbox_emails_add(emails=_emails("health", 4))

    bulk = next(drain for drain in _drains([]) if drain.name == "emails: bulk (reminders and reports)")
    assert bulk.backlog + bulk.due_later == 4 and bulk.due_later >= 3
    assert 0 < bulk.seconds_to_empty <= 600
    assert bulk.seconds_to_empty == pytest.approx(bulk.last_due_in, abs=1)
