"""The clock's state in Redis, shared by every clock process.

Keys (all under ``apply:clock:``):

- ``entries``: set of entry names currently in the timetable;
- ``entry:<name>``: hash with ``last_tick`` (UTC ISO), ``signature``, ``paused``, ``job``, ``queue``;
- ``runs:<name>``: list of the latest runs, newest first (JSON: tick, job_id, clock, outcome);
- ``heartbeats``: sorted set of clock ids scored by their last heartbeat (epoch seconds).

An entry is named after the job it runs. A renamed entry's state moves to its new name once
(``carry_over``), so a rename on deploy loses neither a tick nor a pause.

Claiming a tick and enqueueing its job are one MULTI/EXEC guarded by WATCH on the entry's
hash: of any number of clocks, exactly one moves ``last_tick`` forward and pushes the job,
and a clock that stalls or dies mid-way leaves either both done or neither.
"""

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import WatchError
from rq.job import Job
from rq.queue import Queue
from rq.worker import Worker

from apps.core.redis import rq_queue_named
from apps.monitoring.counters import tick_recorded
from apps.scheduling.timetable import Entry, entry_title, tick_job_id

logger = logging.getLogger("clock")
PREFIX = "apply:clock:"
ENTRIES_KEY = PREFIX + "entries"
HEARTBEATS_KEY = PREFIX + "heartbeats"
RUNS_KEPT = 50
HEARTBEAT_STALE_SECONDS = 15
QUEUED_WINDOW_SECONDS = 600
STARTED_MARGIN_SECONDS = 10
LOST_RECHECK_SECONDS = 0.25
DEFAULT_JOB_TIMEOUT = 180  # RQ's own default, for a job hash without a timeout


def _rq_time(value: str) -> datetime:
    from rq.utils import utcparse

    return utcparse(value).replace(tzinfo=UTC)


def entry_key(name: str) -> str:
    return f"{PREFIX}entry:{name}"


def runs_key(name: str) -> str:
    return f"{PREFIX}runs:{name}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _parse(value) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)


def _decode(mapping: dict) -> dict:
    return {k.decode(): v.decode() for k, v in mapping.items()}


@dataclass
class EntryState:
    last_tick: datetime | None
    signature: str
    paused: bool


class ClockState:
    def __init__(self, connection: Redis):
        self.connection = connection

    # --- timetable sync ------------------------------------------------------------
    def sync(
        self,
        entries: list[Entry],
        now: datetime,
        recorded: dict[str, datetime] | None = None,
        renamed: dict[str, str] | None = None,
    ) -> list[str]:
        """Register the timetable; drop entries no longer in it. Returns the removed names.

        ``recorded`` holds the last ticks kept in the database (``apps.scheduling.ticks``):
        an entry Redis has lost resumes from there. ``renamed`` maps old entry names to new
        ones: an old entry still in Redis hands its state to its new name before it is dropped.
        """
        current = {entry.name for entry in entries}
        known = {name.decode() for name in self.connection.smembers(ENTRIES_KEY)}
        for old, new in (renamed or {}).items():
            if old in known and old not in current and new in current and self.carry_over(old, new):
                logger.info("entry %s renamed %s: its last tick, pause and runs carried over", old, new)
        known = {name.decode() for name in self.connection.smembers(ENTRIES_KEY)}
        removed = sorted(known - current)
        for name in removed:
            self.connection.delete(entry_key(name), runs_key(name))
            self.connection.srem(ENTRIES_KEY, name)
        for entry in entries:
            self.register(entry, now, recorded=(recorded or {}).get(entry.name))
        return removed

    def carry_over(self, old: str, new: str) -> bool:
        """Move entry ``old``'s state (last tick, signature, pause, last job, runs) to ``new``, once.

        Atomic (WATCH on both hashes): of several clocks starting together one moves it, and
        none does if ``new`` already has state of its own (a clock of the new version got
        there first). Registering ``new`` afterwards keeps the last tick when the schedule is
        unchanged, so the ticks missed while no clock ran run once, and a paused entry stays
        paused. Returns whether it moved anything.
        """
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(entry_key(old), entry_key(new), runs_key(old))
                    state = pipe.hgetall(entry_key(old))
                    if not state or pipe.exists(entry_key(new)):
                        pipe.unwatch()
                        return False
                    runs = pipe.lrange(runs_key(old), 0, -1)
                    pipe.multi()
                    pipe.hset(entry_key(new), mapping=state)
                    if runs:
                        pipe.rpush(runs_key(new), *runs)
                    pipe.sadd(ENTRIES_KEY, new)
                    pipe.delete(entry_key(old), runs_key(old))
                    pipe.srem(ENTRIES_KEY, old)
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    def register(self, entry: Entry, now: datetime, recorded: datetime | None = None) -> None:
        """A new or rescheduled entry starts from its latest past tick: it does not fire at once.

        An entry Redis has lost (emptied by a restart without persistence) starts from its
        ``recorded`` last tick instead, when there is one for the same schedule: the ticks it
        missed during the outage then run once, as after the clocks themselves were down.
        """
        key = entry_key(entry.name)
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    state = _decode(pipe.hgetall(key))
                    pipe.multi()
                    if state.get("signature") != entry.signature or not state.get("last_tick"):
                        lost = not state.get("signature")
                        start = recorded if lost and recorded is not None else entry.latest_at_or_before(now)
                        pipe.hset(key, mapping={"last_tick": _iso(start), "signature": entry.signature})
                    pipe.hset(
                        key,
                        mapping={
                            "job": entry.job,
                            "queue": entry.queue,
                            "schedule": entry.schedule,
                            "tz": entry.tz,
                            "why": entry.why,
                            "title": entry.display_title,
                            "description": entry.describe(),
                        },
                    )
                    pipe.sadd(ENTRIES_KEY, entry.name)
                    pipe.execute()
                    return
                except WatchError:
                    continue

    # --- reads ---------------------------------------------------------------------
    def states(self, names: list[str]) -> dict[str, EntryState | None]:
        pipe = self.connection.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(entry_key(name))
        result = {}
        for name, raw in zip(names, pipe.execute()):
            data = _decode(raw)
            result[name] = (
                EntryState(
                    last_tick=_parse(data.get("last_tick")),
                    signature=data.get("signature", ""),
                    paused=data.get("paused") == "1",
                )
                if data
                else None
            )
        return result

    def runs(self, name: str, limit: int = 10) -> list[dict]:
        return [json.loads(raw) for raw in self.connection.lrange(runs_key(name), 0, limit - 1)]

    # --- the claim -----------------------------------------------------------------
    def claim_and_enqueue(self, entry: Entry, tick: datetime, *, clock_id: str, now: datetime) -> str | None:
        """Move the entry's ``last_tick`` to ``tick`` and enqueue its job, atomically.

        Returns the job id; "paused" if the entry is paused, or "skipped" if its previous
        run is still queued or running (the tick is consumed without a job, so runs never
        pile up behind a slow one); or None if another clock already claimed this tick or
        a later one.
        """
        key = entry_key(entry.name)
        queue = rq_queue_named(entry.queue)
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(key)
                state = _decode(pipe.hgetall(key))
                if state.get("signature") != entry.signature:
                    return None  # not registered by this timetable version (yet)
                last = _parse(state.get("last_tick"))
                if last is not None and last >= tick:
                    return None
                busy = self._still_busy(state.get("last_job_id"), now) if entry.skip_if_running else ""
                if state.get("paused") == "1":
                    outcome = "paused"
                elif busy:
                    outcome = "skipped"
                else:
                    outcome = "enqueued"
                job_id = tick_job_id(entry.name, tick)
                pipe.multi()
                pipe.hset(key, "last_tick", _iso(tick))
                if outcome == "enqueued":
                    pipe.hset(key, "last_job_id", job_id)
                    queue.enqueue_many(
                        [
                            queue.prepare_data(
                                entry.job,
                                job_id=job_id,
                                description=f"{entry.name} (tick {_iso(tick)})",
                                meta={"clock_entry": entry.name, "tick": _iso(tick)},
                            )
                        ],
                        pipeline=pipe,
                    )
                tick_recorded(pipe, entry.name, outcome=outcome, lateness_seconds=(now - tick).total_seconds())
                self._record_run(
                    pipe,
                    entry.name,
                    tick=tick,
                    job_id=job_id if outcome == "enqueued" else None,
                    clock_id=clock_id,
                    now=now,
                    outcome=outcome if not busy or outcome == "paused" else f"skipped: {busy}",
                )
                pipe.execute()
                return job_id if outcome == "enqueued" else outcome
            except WatchError:
                return None

    def advance(self, entry: Entry, tick: datetime) -> None:
        """Move the entry's ``last_tick`` forward to ``tick`` without enqueueing (never back)."""
        key = entry_key(entry.name)
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(key)
                state = _decode(pipe.hgetall(key))
                last = _parse(state.get("last_tick"))
                if state.get("signature") != entry.signature or (last is not None and last >= tick):
                    return
                pipe.multi()
                pipe.hset(key, "last_tick", _iso(tick))
                pipe.execute()
            except WatchError:
                return  # another clock moved it: it is at least as far

    def _still_busy(self, job_id: str | None, now: datetime) -> str:
        """Why the entry's previous job still counts as in progress ("" if it does not).

        Only a run that really exists blocks a tick. Queued counts while the job id is in its
        queue (or RQ's intermediate queue), for at most QUEUED_WINDOW_SECONDS: a job waiting
        behind a backlog must not get a twin. A hash that says "queued" while the id is in
        no queue was lost (a worker on several queues took it off the queue and died before
        registering it: RQ's multi-queue dequeue is a plain pop); it blocks nothing, so the
        rule resumes at this tick instead of ten minutes later. Started counts while the worker
        that took it is alive (its key is still in Redis) and the job's timeout has not surely
        passed, so a job abandoned by a killed worker blocks its entry for at most that long.

        Keys come from RQ's own classes, so ``RQ_KEY_PREFIX`` is honoured.
        """
        if not job_id:
            return ""
        status, enqueued_at, started_at, timeout, origin, worker_name = (
            value.decode() if value else ""
            for value in self.connection.hmget(
                Job.key_for(job_id), "status", "enqueued_at", "started_at", "timeout", "origin", "worker_name"
            )
        )
        if status == "queued" and enqueued_at:
            if (now - _rq_time(enqueued_at)).total_seconds() >= QUEUED_WINDOW_SECONDS:
                return ""
            if self._in_queue(job_id, origin):
                return f"previous run {job_id} still queued"
            # A worker that has just popped the id registers it within milliseconds: look again
            # once before calling it lost, so a tick in that gap does not start a twin.
            time.sleep(LOST_RECHECK_SECONDS)
            if self.connection.hget(Job.key_for(job_id), "status") != b"queued" or self._in_queue(job_id, origin):
                return self._still_busy(job_id, now)
            logger.warning(
                "previous run %s was lost (queued, but in no queue: its worker died taking it); this tick runs again",
                job_id,
                extra={"lost_job_id": job_id},
            )
            return ""
        if status == "started" and started_at:
            if not worker_name or not self.connection.exists(Worker.redis_worker_namespace_prefix + worker_name):
                return ""  # the worker that took it is gone: abandoned
            limit = float(timeout or DEFAULT_JOB_TIMEOUT) + STARTED_MARGIN_SECONDS
            if (now - _rq_time(started_at)).total_seconds() < limit:
                return f"previous run {job_id} still running"
        return ""

    def _in_queue(self, job_id: str, origin: str) -> bool:
        queue = Queue(origin or "default", connection=self.connection)
        return any(self.connection.lpos(key, job_id) is not None for key in (queue.key, queue.intermediate_queue_key))

    def _record_run(self, pipe, name, *, tick, job_id, clock_id, now, outcome):
        run = {"tick": _iso(tick), "job_id": job_id, "clock": clock_id, "enqueued_at": _iso(now), "outcome": outcome}
        pipe.lpush(runs_key(name), json.dumps(run))
        pipe.ltrim(runs_key(name), 0, RUNS_KEPT - 1)

    # --- support controls ----------------------------------------------------------
    def set_paused(self, name: str, paused: bool) -> None:
        self.connection.hset(entry_key(name), "paused", "1" if paused else "0")

    def run_now(self, name: str, *, now: datetime, requested_by: str) -> str:
        """Enqueue the entry's job once, outside its timetable, with its own job id."""
        data = _decode(self.connection.hgetall(entry_key(name)))
        if not data.get("job"):
            raise KeyError(f"no entry named {name!r} in the clock's timetable")
        queue = rq_queue_named(data["queue"])
        job_id = f"clock-{name}-manual-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        with self.connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    queue.prepare_data(
                        data["job"],
                        job_id=job_id,
                        description=f"{name} (run now by {requested_by})",
                        meta={"clock_entry": name, "manual": True},
                    )
                ],
                pipeline=pipe,
            )
            self._record_run(pipe, name, tick=now, job_id=job_id, clock_id=f"manual:{requested_by}", now=now,
                             outcome="manual")
            pipe.execute()
        return job_id

    def overview(self, now: datetime, runs: int = 5) -> list[dict]:
        """Every registered entry as the running clocks see it: schedule, state, next and last runs."""
        from cronsim import CronSim

        names = sorted(name.decode() for name in self.connection.smembers(ENTRIES_KEY))
        pipe = self.connection.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(entry_key(name))
            pipe.lrange(runs_key(name), 0, runs - 1)
        raw = pipe.execute()
        result = []
        for index, name in enumerate(names):
            data = _decode(raw[2 * index])
            recent = [json.loads(item) for item in raw[2 * index + 1]]
            job_ids = [run["job_id"] for run in recent if run.get("job_id")]
            statuses = {
                job.id: job.get_status(refresh=False)
                for job in Job.fetch_many(job_ids, connection=self.connection)
                if job is not None
            }
            for run in recent:
                status = statuses.get(run.get("job_id"))
                run["status"] = status.value if status is not None else ("—" if not run.get("job_id") else "expired")
            last_tick = _parse(data.get("last_tick"))
            next_run = None
            if data.get("schedule") and data.get("tz"):
                from zoneinfo import ZoneInfo

                after = max(filter(None, [last_tick, now]))
                next_run = next(CronSim(data["schedule"], after.astimezone(ZoneInfo(data["tz"]))))
            result.append(
                {
                    "name": name,
                    "title": data.get("title") or entry_title(name),
                    "schedule": data.get("schedule", ""),
                    "tz": data.get("tz", ""),
                    "description": data.get("description", ""),
                    "why": data.get("why", ""),
                    "job": data.get("job", ""),
                    "queue": data.get("queue", ""),
                    "paused": data.get("paused") == "1",
                    "last_tick": last_tick,
                    "next_run": next_run,
                    "runs": recent,
                }
            )
        return result

    # --- liveness ------------------------------------------------------------------
    def heartbeat(self, clock_id: str, now: datetime) -> None:
        pipe = self.connection.pipeline(transaction=False)
        pipe.zadd(HEARTBEATS_KEY, {clock_id: now.timestamp()})
        pipe.zremrangebyscore(HEARTBEATS_KEY, "-inf", now.timestamp() - 86400)
        pipe.execute()

    def forget(self, clock_id: str) -> None:
        self.connection.zrem(HEARTBEATS_KEY, clock_id)

    def heartbeats(self, now: datetime) -> list[dict]:
        return [
            {
                "clock": member.decode(),
                "seen": datetime.fromtimestamp(score, UTC),
                "age_seconds": now.timestamp() - score,
                "stale": now.timestamp() - score > HEARTBEAT_STALE_SECONDS,
            }
            for member, score in self.connection.zrange(HEARTBEATS_KEY, 0, -1, withscores=True)
        ]


def clock_liveness(connection: Redis, now: datetime) -> dict:
    """"ok" if a clock sent a heartbeat in the last 15 s, "stale" if only older ones, else "missing"."""
    beats = ClockState(connection).heartbeats(now)
    live = [beat for beat in beats if not beat["stale"]]
    status = "ok" if live else ("stale" if beats else "missing")
    return {"status": status, "live": len(live), "clocks": beats}
