"""Counters that every process on every host increments, kept in one Redis hash.

A sweep runs on whichever worker took it, a tick is claimed by whichever clock won it, and
an email is sent by any worker: an in-process Prometheus counter would be split over all of
them (and lost with each restart), and prometheus_client's multiprocess mode only joins the
processes of one host. So each event adds to a field of ``apply:metrics`` (HINCRBY /
HINCRBYFLOAT, one pipelined round trip), and the scrape reads the hash back
(``apps.monitoring.collector``). Histogram buckets are fields too, one per bucket, not
cumulative; the collector adds them up.

Field names: ``<family>|<label value>|...`` (label values never hold ``|``).

A metrics failure never fails the job or the tick: it is logged and the work goes on. The
clock's fields are written inside its claim's MULTI (``tick_recorded``), so a tick is
counted exactly when it is claimed.
"""

import functools
import logging
import time

from redis.exceptions import RedisError

from apps.core.leases import LeaseLost

logger = logging.getLogger(__name__)

KEY = "apply:metrics"
SEP = "|"

#: Upper bounds (seconds) of the sweep-duration buckets: a sweep pages for at most 15 s.
SWEEP_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 25.0)
#: Upper bounds (seconds) of the tick-lateness buckets (claim time minus the tick's time):
#: the clock polls every 0.5 s, so a live clock stays in the first buckets; the last ones
#: are a takeover or downtime.
TICK_LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)
#: A tick claimed later than this counts as late (apply_clock_ticks_late_total).
TICK_LATE_SECONDS = 5.0


def field(*parts) -> str:
    return SEP.join(str(part) for part in parts)


def bucket_for(value: float, buckets: tuple[float, ...]) -> str:
    """The first bucket bound at or above ``value`` ("+Inf" past the last)."""
    for bound in buckets:
        if value <= bound:
            return repr(bound)
    return "+Inf"


def _connection():
    from apps.core.redis import redis_connection

    return redis_connection()


def _add(increments: dict[str, float]) -> None:
    """Apply the increments in one pipelined round trip; log and go on if Redis refuses."""
    try:
        pipe = _connection().pipeline(transaction=False)
        for name, amount in increments.items():
            if isinstance(amount, int):
                pipe.hincrby(KEY, name, amount)
            else:
                pipe.hincrbyfloat(KEY, name, amount)
        pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("metrics not recorded (%s): %s", exc, sorted(increments))


# --- jobs ------------------------------------------------------------------------------


def sweep_recorded(rule: str, *, outcome: str, seconds: float) -> None:
    """A sweep of ``rule`` ran: ok, skipped (another run held the lease) or failed (it raised)."""
    _add(
        {
            field("sweep_runs", rule, outcome): 1,
            field("sweep_duration_sum", rule): float(seconds),
            field("sweep_duration_bucket", rule, bucket_for(seconds, SWEEP_DURATION_BUCKETS)): 1,
        }
    )


def records_recorded(rule: str, *, changed: int, failed: int = 0) -> None:
    """A process job of ``rule`` changed ``changed`` records (and could not change ``failed``)."""
    increments = {field("records_changed", rule): int(changed)}
    if failed:
        increments[field("records_failed", rule)] = int(failed)
    _add(increments)


def emails_recorded(queue: str, *, sent: int, failed: int) -> None:
    """A delivery job on ``queue`` sent ``sent`` emails and failed ``failed`` attempts."""
    increments = {}
    if sent:
        increments[field("emails", queue, "sent")] = int(sent)
    if failed:
        increments[field("emails", queue, "failed")] = int(failed)
    if increments:
        _add(increments)


def lease_lost(lease: str) -> None:
    """A process found it had lost ``lease`` (paused or cut off past its ttl) and stopped under it."""
    _add({field("leases_lost", lease): 1})


def clock_stalled(seconds: float) -> None:
    """A clock found its poll had stalled (paused, swapped out) and dropped it before claiming."""
    _add({"clock_stalls": 1, "clock_stall_seconds_sum": float(seconds)})


def observed_sweep(rule: str):
    """Decorate a sweep job: count its run by outcome and time it (``{"skipped": True}`` is a skip).

    A sweep that lost its lease mid-way (``LeaseLost``: paused or cut off past its ttl) stops
    there, counts as ``lease_lost`` and returns ``{"lease_lost": True}``: not a failure to
    retry (another run holds the lease and carries on), and nothing more enqueued by it.
    """

    def decorate(job):
        @functools.wraps(job)
        def run(*args, **kwargs):
            started = time.monotonic()
            outcome = "failed"
            try:
                result = job(*args, **kwargs)
                outcome = "skipped" if isinstance(result, dict) and result.get("skipped") else "ok"
                return result
            except LeaseLost as lost:
                outcome = "lease_lost"
                logger.warning("sweep %s stopped: %s", rule, lost)
                return {"lease_lost": True, "why": lost.why}
            finally:
                sweep_recorded(rule, outcome=outcome, seconds=time.monotonic() - started)

        return run

    return decorate


def observed_process(rule: str):
    """Decorate a process job whose result has ``changed`` (and ``failed``): count the records."""

    def decorate(job):
        @functools.wraps(job)
        def run(*args, **kwargs):
            result = job(*args, **kwargs)
            records_recorded(rule, changed=result.get("changed", 0), failed=result.get("failed", 0))
            return result

        return run

    return decorate


# --- the clock -------------------------------------------------------------------------


def tick_recorded(pipe, entry: str, *, outcome: str, lateness_seconds: float) -> None:
    """Add a claimed tick's counts to the clock's claim pipeline (inside its MULTI).

    Only queues commands (nothing is sent before the claim's EXEC), so it cannot fail the
    tick; it is guarded all the same.
    """
    try:
        lateness = max(0.0, float(lateness_seconds))
        pipe.hincrby(KEY, field("clock_ticks", entry, outcome), 1)
        pipe.hincrby(KEY, field("clock_tick_lateness_bucket", bucket_for(lateness, TICK_LATENESS_BUCKETS)), 1)
        pipe.hincrbyfloat(KEY, "clock_tick_lateness_sum", lateness)
        if lateness > TICK_LATE_SECONDS:
            pipe.hincrby(KEY, field("clock_ticks_late", entry), 1)
    except Exception:  # never let a metric stop the clock
        logger.exception("tick metrics not recorded for %s", entry)
