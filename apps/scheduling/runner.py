"""The clock loop: poll, claim due ticks, enqueue. It never runs a job itself.

Any number of clocks may run: each tick is claimed atomically (see clock_state), so a
second or third clock is a hot standby that takes over within one poll when the first
dies. A Redis error is logged and retried with backoff; it never stops the clock.
"""

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError

from apps.monitoring.counters import clock_stalled
from apps.scheduling.clock_state import ClockState
from apps.scheduling.ticks import DatabaseTicks
from apps.scheduling.timetable import Entry

logger = logging.getLogger("clock")

#: A poll that has taken longer than this before a claim was paused (SIGSTOP, a frozen VM,
#: swap) or held up: its ``now`` is stale, so the claim is not made from it; the poll ends
#: and the next one reads the time and every entry's state afresh.
STALL_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    def __init__(
        self,
        entries: list[Entry],
        connection: Redis,
        *,
        poll_interval: float = 0.5,
        heartbeat_interval: float = 5.0,
        now: Callable[[], datetime] = utc_now,
        clock_id: str | None = None,
        ticks: DatabaseTicks | None = None,
        renamed: dict[str, str] | None = None,
    ):
        self.entries = entries
        self.state = ClockState(connection)
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.now = now
        self.clock_id = clock_id or f"{socket.gethostname()}-{os.getpid()}"
        # The last ticks kept in the database too (clock.py passes them; a clock without them
        # restarts an entry Redis lost from its latest past tick).
        self.ticks = ticks
        # Old entry name -> new one (clock.py's RENAMED_ENTRIES): their state is carried over at sync.
        self.renamed = renamed or {}
        self.stopping = threading.Event()
        self._last_heartbeat = 0.0
        self._synced = False
        self._next_tick: dict[str, tuple[datetime, datetime]] = {}  # name -> (last_tick, its next tick)

    def request_stop(self, *_args) -> None:
        """Signal handler: only sets a flag; the loop stops between ticks."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run_once(self) -> list[tuple[str, str]]:
        """One poll: returns (entry name, job id or "paused") for each tick this clock claimed.

        The claim itself is the fence (WATCH on the entry's state: a clock paused between
        reading it and EXEC claims nothing if another clock moved it meanwhile); a poll that
        stalled past ``STALL_SECONDS`` before a claim stops there (logged, counted in
        ``apply_clock_stalls_total``) instead of claiming from a stale clock reading.
        """
        polled_at = time.monotonic()
        now = self.now()
        if not self._synced:
            if self.ticks is not None and self.renamed:
                self.ticks.carry_over(self.renamed)
            recorded = self._recorded()
            removed = self.state.sync(self.entries, now, recorded=recorded, renamed=self.renamed)
            self._record_registered([entry for entry in self.entries if entry.name not in recorded])
            if removed:
                logger.info("removed entries no longer in the timetable: %s", ", ".join(removed))
            self._synced = True
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
            self.state.heartbeat(self.clock_id, now)
            self._last_heartbeat = time.monotonic()
        claimed = []
        states = self.state.states([entry.name for entry in self.entries])
        for entry in self.entries:
            state = states[entry.name]
            if state is None or state.signature != entry.signature or state.last_tick is None:
                # Redis lost our state (restart without persistence) or a new version rescheduled it.
                recorded = self._recorded().get(entry.name)
                self.state.register(entry, now, recorded=recorded)
                if recorded is None:
                    self._record_registered([entry])
                continue
            cached = self._next_tick.get(entry.name)
            if cached is None or cached[0] != state.last_tick:
                cached = (state.last_tick, entry.next_after(state.last_tick))
                self._next_tick[entry.name] = cached
            if now < cached[1]:
                continue  # the common case: nothing due, no cron arithmetic
            tick = entry.latest_due(state.last_tick, now)
            if tick is None:
                continue
            stalled = time.monotonic() - polled_at
            if stalled > STALL_SECONDS:
                logger.warning(
                    "clock %s stalled %.1fs in a poll (paused?): claiming nothing from it, reading afresh",
                    self.clock_id, stalled, extra={"stalled_seconds": stalled},
                )
                clock_stalled(stalled)
                break
            if self._claimed_before(entry, tick):
                continue
            outcome = self.state.claim_and_enqueue(entry, tick, clock_id=self.clock_id, now=now)
            self._next_tick[entry.name] = (tick, entry.next_after(tick))
            if outcome is not None and self.ticks is not None:
                self.ticks.record(entry, tick)
            if outcome is not None:
                late = (now - tick).total_seconds()
                logger.info(
                    "tick %s %s: %s (%.3fs after the tick)",
                    entry.name,
                    tick.isoformat(),
                    outcome,
                    late,
                    extra={"entry": entry.name, "tick": tick.isoformat(), "enqueued_job_id": outcome, "late": late},
                )
                claimed.append((entry.name, outcome))
        return claimed

    def _claimed_before(self, entry: Entry, tick: datetime) -> bool:
        """Whether the database records ``tick`` (or a later one) as claimed already: Redis
        lost the claim (a failover that dropped the last writes the old primary acknowledged),
        so its state went back. Redis is moved forward to the recorded tick instead of the
        tick running a second time. One read of the entry's ClockTick row per claim."""
        if self.ticks is None:
            return False
        recorded = self.ticks.recorded([entry]).get(entry.name)
        if recorded is None or recorded < tick:
            return False
        self.state.advance(entry, recorded)
        self._next_tick[entry.name] = (recorded, entry.next_after(recorded))
        logger.warning(
            "tick %s %s already claimed by the database's record (last %s): Redis lost the claim; not run again",
            entry.name, tick.isoformat(), recorded.isoformat(), extra={"entry": entry.name, "tick": tick.isoformat()},
        )
        return True

    def _recorded(self) -> dict[str, datetime]:
        return self.ticks.recorded(self.entries) if self.ticks is not None else {}

    def _record_registered(self, entries: list[Entry]) -> None:
        """Record where newly registered entries start, so a daily entry is covered before its first run."""
        if self.ticks is None or not entries:
            return
        states = self.state.states([entry.name for entry in entries])
        for entry in entries:
            state = states[entry.name]
            if state is not None and state.last_tick is not None:
                self.ticks.record(entry, state.last_tick)

    def _sleep_seconds(self, started: float) -> float:
        """Until the next poll, or until just after the soonest known tick if that comes first."""
        remaining = self.poll_interval - (time.monotonic() - started)
        if self._next_tick:
            soonest = min(next_tick for _, next_tick in self._next_tick.values())
            remaining = min(remaining, (soonest - self.now()).total_seconds() + 0.002)
        return max(0.0, remaining)

    def run_forever(self) -> None:
        logger.info("clock %s starting with %s entries", self.clock_id, len(self.entries))
        backoff = self.poll_interval
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.run_once()
                backoff = self.poll_interval
            except RedisError as exc:
                logger.error("Redis error, retrying in %.1fs: %s", backoff, exc)
                self._synced = False
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self.stopping.wait(self._sleep_seconds(started))
        try:
            self.state.forget(self.clock_id)
        except RedisError:
            pass
        if self.ticks is not None:
            self.ticks.close()
        logger.info("clock %s stopped", self.clock_id)
