"""The metrics, computed when Prometheus scrapes (a custom prometheus_client Collector).

Nothing is kept in the web process: every value is read at scrape time from where the
service keeps its state, so any web worker on any host answers the same, and a restart
loses nothing.

- the database, through the domain's selectors: deadlines due and not yet processed (and
  the oldest one's age: the lag SLO), the outbox backlog (and its oldest email's age).
  Both read partial indexes whose size follows what is due or pending, not the tables
  (docs/adr/0002-metrics.md has the plans and timings);
- Redis: RQ's worker registry and queue lengths, the clocks' heartbeats and entries, and
  the counters every process adds to (``apps.monitoring.counters``).

A source that fails (the database or Redis down) leaves its metrics out and sets
``apply_metrics_source_up{source=...}`` to 0; the scrape itself still answers.
"""

import logging
import time
from collections import defaultdict

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from apps.monitoring import counters

logger = logging.getLogger(__name__)

QUEUES = ("sweeps", "default", "email", "email_bulk")


def _cumulative(buckets: tuple[float, ...], counts: dict[str, float]) -> list[tuple[str, float]]:
    """Prometheus' cumulative buckets from per-bucket counts keyed by their bound's text."""
    cumulative, running = [], 0.0
    for bound in [*(repr(b) for b in buckets), "+Inf"]:
        running += counts.get(bound, 0)
        cumulative.append((bound, running))
    return cumulative


class ApplyCollector:
    """Collected at every scrape; registered in a registry of its own (``views.metrics``)."""

    def collect(self):
        sources = GaugeMetricFamily(
            "apply_metrics_source_up", "1 if the source answered this scrape, 0 if its metrics are missing",
            labels=["source"],
        )
        for source, read in (("database", self._database), ("redis", self._redis)):
            started = time.perf_counter()
            try:
                families = list(read())
            except Exception as exc:
                logger.warning("metrics: %s unavailable: %r", source, exc)
                sources.add_metric([source], 0)
                continue
            sources.add_metric([source], 1)
            yield from families
            yield GaugeMetricFamily(
                f"apply_metrics_{source}_read_seconds", f"Time this scrape spent reading the {source}",
                value=time.perf_counter() - started,
            )
        yield sources

    # --- the database --------------------------------------------------------------
    def _database(self):
        from apps.applications.selectors import overdue_deadlines
        from apps.outbox.models import OutboxQueue
        from apps.outbox.selectors import outbox_pending_by_queue

        now = timezone.now()
        overdue = GaugeMetricFamily(
            "apply_deadlines_overdue", "Deadlines passed and not processed yet (state still awaiting the rule)",
            labels=["rule"],
        )
        oldest = GaugeMetricFamily(
            "apply_deadline_oldest_overdue_age_seconds",
            "Age of the oldest deadline passed and not processed (0 when none): the lag SLO, 90 s",
            labels=["rule"],
        )
        for item in overdue_deadlines():
            overdue.add_metric([item.rule], item.count)
            oldest.add_metric([item.rule], max(0.0, (now - item.oldest).total_seconds()) if item.oldest else 0.0)
        pending = GaugeMetricFamily(
            "apply_outbox_pending", "Emails due and not sent yet (delayed ones count once due)", labels=["queue"]
        )
        pending_age = GaugeMetricFamily(
            "apply_outbox_oldest_pending_age_seconds",
            "Age of the oldest email due and not sent (0 when none)", labels=["queue"],
        )
        backlog = outbox_pending_by_queue()
        for queue in OutboxQueue.values:
            waiting = backlog.get(queue, {})
            pending.add_metric([queue], waiting.get("n", 0))
            oldest_at = waiting.get("oldest")
            pending_age.add_metric([queue], max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0)
        return [overdue, oldest, pending, pending_age]

    # --- Redis -----------------------------------------------------------------------
    def _redis(self):
        from rq import Queue, Worker

        from apps.core.redis import redis_connection
        from apps.scheduling.clock_state import ENTRIES_KEY, ClockState, clock_liveness

        connection = redis_connection()
        families = []

        workers = Worker.all(connection=connection)
        alive = GaugeMetricFamily("apply_workers_alive", "RQ workers registered in Redis (they heartbeat)")
        alive.add_metric([], len(workers))
        busy = GaugeMetricFamily("apply_workers_busy", "RQ workers running a job now")
        busy.add_metric([], sum(1 for worker in workers if worker.get_state() == "busy"))
        listening = GaugeMetricFamily("apply_queue_workers", "Live workers listening to the queue", labels=["queue"])
        length = GaugeMetricFamily("apply_queue_length", "Jobs waiting in the queue", labels=["queue"])
        for name in QUEUES:
            listening.add_metric([name], sum(1 for worker in workers if name in worker.queue_names()))
            length.add_metric([name], Queue(name, connection=connection).count)
        families += [alive, busy, listening, length]

        from apps.outbox.selectors import email_budget_left

        left = email_budget_left(now=timezone.now())
        budget = GaugeMetricFamily("apply_email_budget_left", "Sends left in today's email budget (UTC day)")
        if left is not None:  # no sample without a budget
            budget.add_metric([], left)
        families.append(budget)

        now = timezone.now()
        liveness = clock_liveness(connection, now)
        clocks = GaugeMetricFamily("apply_clocks_alive", "Clocks that sent a heartbeat in the last 15 s")
        clocks.add_metric([], liveness["live"])
        families.append(clocks)

        state = ClockState(connection)
        names = sorted(name.decode() for name in connection.smembers(ENTRIES_KEY))
        last_tick = GaugeMetricFamily(
            "apply_clock_entry_last_tick_timestamp_seconds", "Time of the entry's last claimed tick (Unix)",
            labels=["entry"],
        )
        paused = GaugeMetricFamily("apply_clock_entry_paused", "1 if support paused the entry", labels=["entry"])
        for name, entry in state.states(names).items():
            if entry is None:
                continue
            if entry.last_tick is not None:
                last_tick.add_metric([name], entry.last_tick.timestamp())
            paused.add_metric([name], 1 if entry.paused else 0)
        families += [last_tick, paused]

        families += self._counters(connection.hgetall(counters.KEY))
        return families

    def _counters(self, raw: dict) -> list:
        values = defaultdict(dict)  # family -> {label tuple: value}
        for key, value in raw.items():
            family, *labels = key.decode().split(counters.SEP)
            values[family][tuple(labels)] = float(value)

        sweep_runs = CounterMetricFamily(
            "apply_sweep_runs",
            "Sweep jobs run, by rule and outcome (ok, skipped: lease held, lease_lost: stopped mid-way, failed)",
            labels=["rule", "outcome"],
        )
        for (rule, outcome), value in sorted(values["sweep_runs"].items()):
            sweep_runs.add_metric([rule, outcome], value)
        families = [sweep_runs]

        by_rule = defaultdict(dict)
        for (rule, bound), value in values["sweep_duration_bucket"].items():
            by_rule[rule][bound] = value
        durations = HistogramMetricFamily("apply_sweep_duration_seconds", "Sweep job run time", labels=["rule"])
        for rule, buckets in sorted(by_rule.items()):
            durations.add_metric(
                [rule],
                _cumulative(counters.SWEEP_DURATION_BUCKETS, buckets),
                sum_value=values["sweep_duration_sum"].get((rule,), 0.0),
            )
        families.append(durations)

        for family, documentation in (
            ("records_changed", "Records the rule's process jobs changed (applications rejected, declined, chased...)"),
            ("records_failed", "Records the rule's process jobs could not change (logged; retried by the next sweep)"),
        ):
            metric = CounterMetricFamily(f"apply_{family}", documentation, labels=["rule"])
            for (rule,), value in sorted(values[family].items()):
                metric.add_metric([rule], value)
            families.append(metric)

        emails = CounterMetricFamily("apply_emails", "Outbox emails sent, and failed attempts", labels=["queue", "outcome"])
        for (queue, outcome), value in sorted(values["emails"].items()):
            emails.add_metric([queue, outcome], value)
        families.append(emails)

        ticks = CounterMetricFamily(
            "apply_clock_ticks", "Ticks claimed by the clocks, by entry and outcome (enqueued, skipped, paused)",
            labels=["entry", "outcome"],
        )
        for (entry, outcome), value in sorted(values["clock_ticks"].items()):
            ticks.add_metric([entry, outcome], value)
        late = CounterMetricFamily(
            "apply_clock_ticks_late",
            f"Ticks claimed more than {counters.TICK_LATE_SECONDS:g} s after their time (a takeover, downtime)",
            labels=["entry"],
        )
        for (entry,), value in sorted(values["clock_ticks_late"].items()):
            late.add_metric([entry], value)
        lateness = HistogramMetricFamily("apply_clock_tick_lateness_seconds", "Claim time minus the tick's time")
        lateness.add_metric(
            [],
            _cumulative(
                counters.TICK_LATENESS_BUCKETS,
                {bound: value for (bound,), value in values["clock_tick_lateness_bucket"].items()},
            ),
            sum_value=values["clock_tick_lateness_sum"].get((), 0.0),
        )
        leases = CounterMetricFamily(
            "apply_leases_lost",
            "Leases a process found it had lost (paused or cut off past the ttl) and stopped working under",
            labels=["lease"],
        )
        for (lease,), value in sorted(values["leases_lost"].items()):
            leases.add_metric([lease], value)
        stalls = CounterMetricFamily(
            "apply_clock_stalls", "Clock polls dropped because the clock stalled (paused) before claiming"
        )
        stalls.add_metric([], values["clock_stalls"].get((), 0.0))
        return [*families, ticks, late, lateness, leases, stalls]
