"""Timetable entries and their ticks, computed in each entry's own time zone.

Ticks follow Vixie/Debian cron semantics through DST changes (cronsim implements them):
an entry with fixed minute and hour whose local time is skipped in spring fires once at
the end of the gap, one whose local time occurs twice in autumn fires once, at the first
occurrence; entries with a wildcard hour fire every real hour (23 and 25 times on those
days) and every-minute entries never double or skip.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,60}$")


class TimetableError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    name: str
    schedule: str  # cron expression read in ``tz``: 5 fields, or 6 with seconds first (tests, benchmarks)
    tz: str
    job: str  # dotted path of the job function: a public API
    queue: str
    why: str
    # A tick that finds the previous run still queued or running is skipped, not queued behind it.
    skip_if_running: bool = True
    # What people read on the Schedule page; the name is the job function's (it goes into job ids).
    title: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def signature(self) -> str:
        """What makes two versions of an entry tick differently."""
        return f"{self.schedule}|{self.tz}"

    def validate(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise TimetableError(f"{self.name!r}: names are lowercase letters, digits and _ (they go into job ids)")
        if len(self.schedule.split()) not in (5, 6):
            raise TimetableError(
                f"{self.name}: schedule {self.schedule!r} must be a cron expression of 5 fields (or 6, seconds first)"
            )
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise TimetableError(f"{self.name}: unknown time zone {self.tz!r}") from None
        try:
            CronSim(self.schedule, datetime.now(self.zone))
        except CronSimError as exc:
            raise TimetableError(f"{self.name}: invalid schedule {self.schedule!r}: {exc}") from None
        if not self.why.strip():
            raise TimetableError(f"{self.name}: say why it runs when it does")

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``, in UTC."""
        return next(CronSim(self.schedule, moment.astimezone(self.zone))).astimezone(UTC)

    def latest_at_or_before(self, now: datetime) -> datetime:
        """The most recent tick at or before ``now``, in UTC."""
        since = (now + timedelta(seconds=1)).replace(microsecond=0)
        return next(CronSim(self.schedule, since.astimezone(self.zone), reverse=True)).astimezone(UTC)

    def latest_due(self, last_tick: datetime, now: datetime) -> datetime | None:
        """The latest tick in ``(last_tick, now]``, or None: missed ticks coalesce into one run."""
        latest = self.latest_at_or_before(now)
        return latest if latest > last_tick else None

    @property
    def display_title(self) -> str:
        return self.title or entry_title(self.name)

    def describe(self) -> str:
        return CronSim(self.schedule, datetime.now(self.zone)).explain() + f" ({self.tz})"


def entry_title(name: str) -> str:
    """The title of an entry that has none of its own: its name as words."""
    return name.replace("_", " ").capitalize()


def timetable_from_setting(default: list[Entry], setting: str | None) -> list[Entry]:
    """The timetable to run: ``default``, or the list named by ``setting`` ("package.module.NAME")."""
    if not setting:
        return default
    from rq.utils import import_attribute

    try:
        entries = import_attribute(setting)
    except (ImportError, AttributeError, ValueError) as exc:
        raise TimetableError(f"CLOCK_TIMETABLE={setting!r} does not import: {exc}") from None
    if not isinstance(entries, (list, tuple)) or not all(isinstance(entry, Entry) for entry in entries):
        raise TimetableError(f"CLOCK_TIMETABLE={setting!r} is not a list of Entry")
    return list(entries)


def validate_timetable(entries: list[Entry]) -> None:
    """Schedules parse, zones exist, names are unique, and every job path imports."""
    from rq.utils import import_attribute

    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise TimetableError(f"duplicate entry names: {', '.join(duplicates)}")
    for entry in entries:
        entry.validate()
        try:
            func = import_attribute(entry.job)
        except (ImportError, AttributeError, ValueError) as exc:
            raise TimetableError(f"{entry.name}: job {entry.job!r} does not import: {exc}") from None
        if not callable(func):
            raise TimetableError(f"{entry.name}: job {entry.job!r} is not callable")


def tick_job_id(entry_name: str, tick: datetime) -> str:
    """A new RQ job id per tick (RQ ids allow only letters, digits, _ and -)."""
    return f"clock-{entry_name}-{tick.astimezone(UTC):%Y%m%dT%H%M%SZ}"
