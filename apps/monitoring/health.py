"""The Health page's figures and verdict: the health of the timed rules (an overall verdict
first, then invariant findings, sweep lag, failed jobs). The page itself is in
``apps.monitoring.views``; support's first page shows the same verdict (``support_attention``).
"""

import json
import logging
from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone
from redis.exceptions import RedisError

from apps.applications.selectors import Overdue, overdue_deadlines, timed_transitions_last_minute
from apps.applications.wording import rule_title
from apps.core.redis import redis_connection
from apps.monitoring.invariants import DESCRIPTIONS
from apps.monitoring.job_registries import FailedJobs, failed_jobs, worker_count
from apps.monitoring.selectors import invariant_findings_latest, invariant_findings_recent
from apps.outbox.models import OutboxQueue
from apps.outbox.selectors import email_budget_left, email_bulk_cap_per_second, email_cap_per_second, outbox_backlog
from apps.scheduling.clock_state import ENTRIES_KEY, ClockState, clock_liveness

#: A deadline processed within this is the sweeps working as designed (one every minute,
#: plus the batch); past it, support should look.
LAG_ALARM_SECONDS = 180
#: An email backlog that has not moved for this long, while waiting, is stuck.
EMAIL_STUCK_SECONDS = 300
#: How often the Health page refreshes its figures.
REFRESH_SECONDS = 10
#: Support's first page shows the verdict from a snapshot at most this old (``support_attention``).
ATTENTION_MAX_AGE_SECONDS = 15
ATTENTION_KEY = "monitoring:attention"

logger = logging.getLogger(__name__)


def _described(findings):
    return [(finding, DESCRIPTIONS.get(finding.kind, finding.kind)) for finding in findings]


@dataclass(frozen=True)
class Drain:
    """A backlog and how fast it goes: per rule, and per email queue, over the last minute."""

    name: str
    backlog: int
    oldest: datetime | None
    done_last_minute: int
    #: Emails only: the provider cap every sender shares, and the emails ahead in the cap
    #: (time-critical ones go before bulk); the most of it this queue may take (bulk's share);
    #: the emails not due yet (staggered bulk, held-back ones) and seconds until the last is due.
    cap_per_second: float = 0.0
    ahead: int = 0
    lane_cap_per_second: float = 0.0
    due_later: int = 0
    last_due_in: float = 0.0

    @property
    def per_second(self) -> float:
        return self.done_last_minute / 60

    @property
    def seconds_to_empty(self) -> int | None:
        """Expected time to empty at the last minute's rate, never faster than the cap allows
        (with the emails ahead of it, and this queue's share of the cap), nor before the last
        email not due yet is due; None while what is due does not drain."""
        if not self.backlog and not self.due_later:
            return 0
        if self.backlog and not self.done_last_minute:
            return None
        seconds = max(self.backlog / self.per_second if self.backlog else 0.0, self.last_due_in)
        total = self.backlog + self.due_later
        if self.cap_per_second:
            seconds = max(seconds, (self.ahead + total) / self.cap_per_second)
        if self.lane_cap_per_second:
            seconds = max(seconds, total / self.lane_cap_per_second)
        return round(seconds)


def _drains(overdue: list[Overdue], now: datetime | None = None) -> list[Drain]:
    now = now or timezone.now()
    done = timed_transitions_last_minute()
    rules = [Drain(rule_title(item.rule), item.count, item.oldest, done[item.rule]) for item in overdue]
    cap, bulk_cap = email_cap_per_second(), email_bulk_cap_per_second()
    emails, ahead = [], 0
    for item in outbox_backlog():  # time-critical first: it goes first in the cap
        last_due_in = (item.last_available_at - now).total_seconds() if item.last_available_at else 0.0
        emails.append(Drain(
            f"emails: {item.label.lower()}", item.pending, item.oldest_available_at, item.sent_last_minute,
            cap_per_second=cap, ahead=ahead, lane_cap_per_second=bulk_cap if item.queue == OutboxQueue.BULK else 0.0,
            due_later=item.due_later, last_due_in=max(0.0, last_due_in),
        ))
        ahead += item.pending
    return rules + emails


@dataclass
class Verdict:
    """The service's health in one word and the reasons: "ok", "warning" (look when you can)
    or "problem" (a rule is not being enforced, or emails are not going out)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: When the figures behind it were read (a snapshot's time; None: read for this page).
    checked_at: datetime | None = None

    @property
    def level(self) -> str:
        return "problem" if self.problems else "warning" if self.warnings else "ok"

    @property
    def title(self) -> str:
        return {
            "ok": "All is well: the timed rules are running on time",
            "warning": "Working, but needs a look",
            "problem": "Something is wrong: act now",
        }[self.level]


def paused_entries() -> list[str]:
    """Names of the clock entries support has paused (read from Redis; raises RedisError)."""
    connection = redis_connection()
    names = sorted(name.decode() for name in connection.smembers(ENTRIES_KEY))
    return [name for name, state in ClockState(connection).states(names).items() if state and state.paused]


def _paused_checks(verdict: Verdict, paused: list[str] | None = None) -> None:
    for name in paused_entries() if paused is None else paused:
        verdict.warnings.append(f"{name} is paused on the Schedule page: it runs only when resumed.")


def _queue_checks(verdict: Verdict, now: datetime, failed: FailedJobs | None, *, paused: bool = True) -> None:
    """What only Redis knows: clocks, workers, paused rules, failed jobs (raises RedisError)."""
    connection = redis_connection()
    clock = clock_liveness(connection, now)
    if clock["status"] != "ok":
        verdict.problems.append("No clock is running: no rule runs on its timetable. Start clock.py.")
    if not worker_count():
        verdict.problems.append("No worker is running: jobs wait in their queues. Start a worker.")
    if paused:
        _paused_checks(verdict)
    total = (failed or failed_jobs()).total
    if total:
        verdict.warnings.append(f"{total} failed job{'s' if total != 1 else ''}: inspect or requeue on the jobs dashboard.")


def health_verdict(
    *, now: datetime, overdue: list[Overdue], drains: list[Drain] | None = None, latest=None,
    failed: FailedJobs | None = None, paused: bool = True,
) -> Verdict:
    verdict = Verdict()
    try:
        _queue_checks(verdict, now, failed, paused=paused)
    except RedisError:
        verdict.problems.append("The job queue (Redis) is not answering: no job runs until it is back.")
    for item in overdue:
        if item.count and item.lag_seconds(now) > LAG_ALARM_SECONDS:
            verdict.problems.append(
                f"{item.count} deadline{'s' if item.count != 1 else ''} passed more than "
                f"{LAG_ALARM_SECONDS // 60} minutes ago and not yet processed ({rule_title(item.rule)})."
            )
    for drain in drains or []:
        stuck = drain.oldest is not None and (now - drain.oldest).total_seconds() > EMAIL_STUCK_SECONDS
        if drain.name.startswith("emails") and drain.backlog and drain.seconds_to_empty is None and stuck:
            verdict.problems.append(f"{drain.name}: {drain.backlog} waiting and none sent in the last minute.")
    waiting = sum(drain.backlog + drain.due_later for drain in drains or [] if drain.name.startswith("emails"))
    try:
        left = email_budget_left(now=now) if waiting else None
    except RedisError:
        left = None
    if left is not None and waiting > left:
        message = (f"Today's email budget runs out before the queue drains: {waiting} emails waiting, "
                   f"{left} left in the budget; the rest wait for midnight UTC.")
        logger.warning(message)
        verdict.warnings.append(message)
    for finding in latest or []:
        if not finding.ok:
            verdict.warnings.append(
                f"The last invariant check found {finding.count}: {DESCRIPTIONS.get(finding.kind, finding.kind)}."
            )
    return verdict


def support_attention(*, now: datetime, paused: Callable[[], list[str]] = paused_entries) -> Verdict:
    """What needs support's attention, for their first page (never raises on Redis errors).

    Read from a snapshot in Redis at most ``ATTENTION_MAX_AGE_SECONDS`` old, which the first
    page view to find it missing or expired computes and stores (the verdict counts what is
    due and reads the clocks, workers and failed jobs: 18-26 ms at a million applications
    here, which every view of the first page paid). So the cost is bounded to one
    computation per 15 s per web host at most, however many views, and needs no job to keep
    it fresh (a job would stop exactly when workers do). The page says when it was checked;
    Health always reads live. With Redis down it is computed for the page, saying so.
    Paused rules are read live on every view (``paused``: the page's one read, which its
    paused banner shares): a pause or a resume on the Schedule page shows at once.
    """
    verdict = _attention_snapshot(now=now)
    try:
        _paused_checks(verdict, paused())
    except RedisError:
        pass  # the snapshot says Redis is not answering
    return verdict


def _attention_snapshot(*, now: datetime) -> Verdict:
    """Support's verdict without the paused rules, from Redis if at most ATTENTION_MAX_AGE_SECONDS old."""
    try:
        connection = redis_connection()
        raw = connection.get(ATTENTION_KEY)
    except RedisError:
        connection, raw = None, None
    if raw:
        data = json.loads(raw)
        return Verdict(problems=data["problems"], warnings=data["warnings"],
                       checked_at=datetime.fromisoformat(data["checked_at"]))
    verdict = health_verdict(now=now, overdue=overdue_deadlines(), latest=invariant_findings_latest(), paused=False)
    verdict.checked_at = now
    if connection is not None:
        snapshot = {"problems": verdict.problems, "warnings": verdict.warnings, "checked_at": now.isoformat()}
        try:
            connection.set(ATTENTION_KEY, json.dumps(snapshot), ex=ATTENTION_MAX_AGE_SECONDS)
        except RedisError:
            logger.warning("could not store the attention snapshot", exc_info=True)
    return verdict


def health_context(*, now: datetime) -> dict:
    """Everything the Health page shows, read once."""
    overdue = overdue_deadlines()  # a count over what is due: read once for both tables
    drains = _drains(overdue, now)
    latest = invariant_findings_latest()
    failed = failed_jobs()  # a read per failed sweep: once for the verdict and the table
    return {
        "now": now,
        "verdict": health_verdict(now=now, overdue=overdue, drains=drains, latest=latest, failed=failed),
        "drains": [(drain, round((now - drain.oldest).total_seconds()) if drain.oldest else 0) for drain in drains],
        "latest": _described(latest),
        "recent": _described(invariant_findings_recent(now=now)),
        "overdue": [(item, round(item.lag_seconds(now)), rule_title(item.rule)) for item in overdue],
        "failed_jobs": failed.per_queue,
        "abandoned_sweeps": failed.abandoned_sweeps,
        "refresh_seconds": REFRESH_SECONDS,
    }

