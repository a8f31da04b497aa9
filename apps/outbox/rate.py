"""The provider's limits, shared by every sender on every host: one Lua script in Redis.

**Rate cap.** Sends are paced, not counted in windows: each send reserves the next free
slot, ``max(1.02 / EMAIL_RATE_PER_SECOND, 60.5 / EMAIL_RATE_PER_MINUTE)`` seconds after
the one before (GCRA, a token bucket of depth one, kept as one "next free slot" time in Redis,
read with Redis' own clock so hosts' clocks do not matter). Slots are spaced by at least
that interval, so any window of a second holds at most ``EMAIL_RATE_PER_SECOND`` slots and
any window of a minute at most ``EMAIL_RATE_PER_MINUTE``, with 20 ms and 0.5 s to spare;
a sender renders the email first, then sleeps until its slot and sends, so the provider
sees the same as long as the jitter stays under those, plus at most one email per
sender paused between its reservation and its send.

**Lanes.** A time-critical (``email``) sender may reserve up to ``RESERVE_AHEAD`` ahead;
a bulk (``email_bulk``) sender only a slot at most a sliver away (10 ms, or a quarter of
the interval), that is a slot no time-critical sender took an interval ahead. While time-critical senders
have work they keep the next slot taken, so bulk gets only the slots they leave. With
``EMAIL_BULK_MAX_PERCENT`` under 100, bulk senders also keep a "next slot" of their own,
spaced ``interval * 100 / percent``: together they never take more than that share of the
cap, and the rest stays free for time-critical emails even while none is waiting.

**Daily budget.** ``EMAIL_DAILY_BUDGET`` sends per UTC day, counted in Redis; when the
day's counter is missing (a new day, or a Redis that came back empty) it starts from the
database's count of emails sent since midnight.

**Backoff.** A temporary refusal (421/450/451/452) sets one backoff key: no sender on any
host reserves a slot until it expires (5 s, doubling with each refusal within 10 minutes,
at most 5 minutes).

**Across a Redis failover** (asynchronous replication) the new primary may lack the last
writes: the slot time falls back to "now" (pacing resumes from then: at most
``RESERVE_AHEAD`` worth of slots, 1 s of the cap, overlap the old ones), the backoff may
end early, and the day's counter may miss the sends in the replication lag (typically
under a second of the cap). A Redis that comes back empty loses the counter and it is
recounted from the database. So a failover overshoots the per-minute cap by at most
about two seconds of the cap (100 emails at 50/s) once, and the budget by the sends of the lag.
"""

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from apps.core.redis import redis_connection

RESERVE_AHEAD_SECONDS = 1.0
BULK_AHEAD_SECONDS = 0.01
#: Slots are spaced as if each window were this much longer: it absorbs the jitter between
#: a slot and the provider receiving the email (a busy host, the SMTP round trips). It costs
#: 2 % of a per-second cap (50/s: one every 20.4 ms) and 0.8 % of a per-minute one.
JITTER_SECOND = 0.02
JITTER_MINUTE = 0.5
BACKOFF_FIRST_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
PREFIX = "apply:email:rate"

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local backoff = redis.call('PTTL', KEYS[3])
if backoff > 0 then return {1, backoff * 1000} end
local budget = tonumber(ARGV[3])
if budget > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= budget then return {2, 0} end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {3, wait - tonumber(ARGV[2])} end
local lane_interval = tonumber(ARGV[4])
if lane_interval > 0 then
  local lane_tat = tonumber(redis.call('GET', KEYS[4]) or '0')
  if lane_tat > tat then
    if lane_tat - now > tonumber(ARGV[2]) then return {3, lane_tat - now - tonumber(ARGV[2])} end
    tat = lane_tat
    wait = tat - now
  end
  redis.call('SET', KEYS[4], string.format('%d', tat + lane_interval), 'PX', 60000)
end
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', 60000)
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 172800)
return {0, wait}
"""


@dataclass(frozen=True)
class Reservation:
    """``ok`` with ``wait`` seconds until the slot; or why not: ``backoff``, ``budget`` or ``busy``
    (no slot free soon enough for the lane), with ``wait`` the seconds worth waiting."""

    outcome: str
    wait: float


_OUTCOMES = {0: "ok", 1: "backoff", 2: "budget", 3: "busy"}


def bulk_ahead_seconds() -> float:
    """How far ahead bulk may reserve: a sliver, so it takes only a slot nobody took by then
    (time-critical senders reserve their next slot right after each send, an interval ahead)."""
    return min(BULK_AHEAD_SECONDS, interval_seconds() / 4)


def interval_seconds() -> float:
    per_second, per_minute = settings.EMAIL_RATE_PER_SECOND, settings.EMAIL_RATE_PER_MINUTE
    return max(
        (1 + JITTER_SECOND) / per_second if per_second else 0.0,
        (60 + JITTER_MINUTE) / per_minute if per_minute else 0.0,
    )


def bulk_interval_seconds() -> float:
    """Bulk's own spacing when it may take only ``EMAIL_BULK_MAX_PERCENT`` of the cap (0: no limit of its own)."""
    percent = settings.EMAIL_BULK_MAX_PERCENT
    interval = interval_seconds()
    return interval * 100 / percent if interval and percent < 100 else 0.0


def _day_key(now: datetime) -> str:
    return f"{PREFIX}:day:{now:%Y-%m-%d}"


def prepare_day(now: datetime) -> None:
    """A missing day counter starts from the database's count of today's sends (once per batch)."""
    key = _day_key(now)
    connection = redis_connection()
    if connection.exists(key):
        return
    from apps.outbox.models import OutboxEmail, OutboxStatus

    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sent = OutboxEmail.objects.filter(status=OutboxStatus.SENT, sent_at__gte=midnight).count()
    connection.set(key, sent, nx=True, ex=172800)


def reserve(*, lane: str, now: datetime) -> Reservation:
    """Reserve one send in the shared cap for ``lane`` (``urgent`` or ``bulk``).

    The day's counter is expected to exist (``prepare_day``, once per batch)."""
    key = _day_key(now)
    ahead = RESERVE_AHEAD_SECONDS if lane == "urgent" else bulk_ahead_seconds()
    lane_interval = bulk_interval_seconds() if lane == "bulk" else 0.0
    code, micros = redis_connection().eval(
        _RESERVE, 4, f"{PREFIX}:next-slot", key, f"{PREFIX}:backoff", f"{PREFIX}:bulk-next-slot",
        int(interval_seconds() * 1_000_000), int(ahead * 1_000_000), settings.EMAIL_DAILY_BUDGET,
        int(lane_interval * 1_000_000),
    )
    return Reservation(_OUTCOMES[int(code)], int(micros) / 1_000_000)


def wait_for_slot(*, lane: str, now_fn, give_up_after: float) -> Reservation:
    """Reserve a slot and sleep until it; a lane whose slot is taken polls for up to ``give_up_after`` s.

    Returns the ``ok`` reservation once its slot has come, or the reason it did not get one
    (``backoff``, ``budget``, or ``busy`` when ``give_up_after`` ran out).
    """
    deadline = time.monotonic() + give_up_after
    while True:
        reservation = reserve(lane=lane, now=now_fn())
        if reservation.outcome == "ok":
            if reservation.wait > 0:
                time.sleep(reservation.wait)
            return reservation
        if reservation.outcome != "busy" or time.monotonic() >= deadline:
            return reservation
        # Wake when the slot comes within reach (jitter: polling bulk senders do not wake in step).
        pause = reservation.wait + random.uniform(0, bulk_ahead_seconds() / 2)
        time.sleep(min(pause, max(0.0, deadline - time.monotonic()) + 0.001))


def back_off_sender() -> float:
    """A temporary refusal: every sender pauses; returns the pause in seconds."""
    connection = redis_connection()
    refusals = connection.incr(f"{PREFIX}:refusals")
    connection.expire(f"{PREFIX}:refusals", 600)
    seconds = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (refusals - 1))
    # A backoff another sender set already stands.
    connection.set(f"{PREFIX}:backoff", 1, px=int(seconds * 1000), nx=True)
    return seconds


def backoff_left() -> float:
    """Seconds until senders may send again (0: no backoff)."""
    return max(0, redis_connection().pttl(f"{PREFIX}:backoff")) / 1000


def day_sent(now: datetime) -> int:
    """Sends counted against today's budget (UTC day)."""
    return int(redis_connection().get(_day_key(now)) or 0)


def next_budget_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
