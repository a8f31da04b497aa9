"""The shared cap, the lanes and the daily budget, in real Redis (apps/outbox/rate.py)."""

import django_rq
import pytest
from django.utils import timezone

from apps.core.redis import redis_connection
from apps.outbox import rate
from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.outbox.services import outbox_emails_deliver
from tests.apps.outbox.test_services import add

pytestmark = pytest.mark.django_db


def test_sends_are_paced_at_the_cap_whatever_the_number_of_senders(smtp, settings):
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 20, 6000  # the per-second cap binds: 50 ms
    emails = [add(f"p:{n}") for n in range(30)]

    assert outbox_emails_deliver(email_ids=[e.pk for e in emails]).sent == 30

    received = sorted(smtp.first_received_at.values())
    # Any 21 consecutive sends span more than a second: no second holds more than 20.
    assert min(b - a for a, b in zip(received, received[20:])) > 1.0


def test_the_interval_is_the_stricter_of_the_two_caps(settings):
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 50, 600
    assert rate.interval_seconds() == pytest.approx(60.5 / 600)
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 5, 3000
    assert rate.interval_seconds() == pytest.approx(1.02 / 5)
    settings.EMAIL_RATE_PER_SECOND = settings.EMAIL_RATE_PER_MINUTE = 0
    assert rate.interval_seconds() == 0


def test_time_critical_senders_keep_the_next_slot_and_bulk_gets_what_they_leave(settings):
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 2, 0  # a slot every 500 ms
    now = timezone.now()
    rate.prepare_day(now)
    assert rate.reserve(lane="urgent", now=now) == rate.Reservation("ok", 0)
    # The next slot is 500 ms away: time-critical may reserve it, bulk may not (it is not free now).
    assert rate.reserve(lane="bulk", now=now).outcome == "busy"
    second = rate.reserve(lane="urgent", now=now)
    assert second.outcome == "ok" and 0.5 < second.wait <= 1.02 / 2
    # More than RESERVE_AHEAD taken: time-critical waits too, without reserving.
    rate.reserve(lane="urgent", now=now)
    assert rate.reserve(lane="urgent", now=now).outcome == "busy"


def test_a_bulk_batch_that_finds_the_cap_taken_hands_itself_back(smtp, settings, monkeypatch):
    settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE = 1, 0
    monkeypatch.setattr("apps.outbox.delivery.BULK_WAIT_SECONDS", 0.2)
    email = add("bulk:1")
    OutboxEmail.objects.filter(pk=email.pk).update(queue="email_bulk")
    rate.prepare_day(timezone.now())
    rate.reserve(lane="urgent", now=timezone.now())
    rate.reserve(lane="urgent", now=timezone.now())  # time-critical holds the next second

    result = outbox_emails_deliver(email_ids=[email.pk])

    assert (result.sent, result.handed_on) == (0, 1)
    assert smtp.messages == []
    assert django_rq.get_queue("email_bulk").count == 1  # at the back of its queue


def test_the_daily_budget_stops_sending_until_midnight(smtp, settings):
    settings.EMAIL_DAILY_BUDGET = 3
    emails = [add(f"d:{n}") for n in range(5)]

    result = outbox_emails_deliver(email_ids=[e.pk for e in emails])

    assert (result.sent, result.handed_on) == (3, 2)
    assert len(smtp.messages) == 3
    assert rate.day_sent(timezone.now()) == 3
    waiting = OutboxEmail.objects.exclude(status=OutboxStatus.SENT)
    midnight = rate.next_budget_day(timezone.now())
    assert all(e.sweep_after > midnight for e in waiting)  # the sweep leaves them until then too


def test_a_lost_day_counter_is_recounted_from_the_database(smtp, settings):
    settings.EMAIL_DAILY_BUDGET = 3
    outbox_emails_deliver(email_ids=[add(f"r:{n}").pk for n in range(2)])
    redis_connection().flushdb()  # a Redis that came back empty

    result = outbox_emails_deliver(email_ids=[add(f"r:{n}").pk for n in range(2, 5)])

    assert (result.sent, result.handed_on) == (1, 2)
    assert len(smtp.messages) == 3
