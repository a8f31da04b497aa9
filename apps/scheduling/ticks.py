"""The clock's last tick per entry, in the database: what the clock resumes from when Redis lost it.

Best effort by design: Redis is the clock's source of truth while it has the entry, and a
database outage must never stop the clock. A failed write is logged and the next tick
writes again; a failed read falls back to the entry's latest past tick (the behaviour
without this record).
"""

import logging
from datetime import datetime

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import Q

from apps.scheduling.models import ClockTick
from apps.scheduling.timetable import Entry

logger = logging.getLogger("clock")


class DatabaseTicks:
    def recorded(self, entries: list[Entry]) -> dict[str, datetime]:
        """The recorded last tick of each entry whose schedule is unchanged since it was recorded."""
        signatures = {entry.name: entry.signature for entry in entries}
        try:
            rows = ClockTick.objects.filter(name__in=signatures).values_list("name", "signature", "last_tick")
            return {name: tick for name, signature, tick in rows if signatures[name] == signature}
        except DatabaseError as exc:
            logger.error("could not read the recorded ticks; entries start from their latest past tick: %s", exc)
            close_old_connections()  # a broken connection is replaced at the next use
            return {}

    def carry_over(self, renamed: dict[str, str]) -> None:
        """Give each renamed entry's recorded tick to its new name, once (old name -> new name).

        The new name takes the old row unless it has a row of its own already (then the old
        one is dropped): a clock that finds the entry missing from Redis after a rename
        still resumes from the old name's last tick.
        """
        for old, new in renamed.items():
            try:
                with transaction.atomic():
                    if ClockTick.objects.filter(name=new).exists():
                        ClockTick.objects.filter(name=old).delete()
                    else:
                        ClockTick.objects.filter(name=old).update(name=new)
            except DatabaseError as exc:
                logger.error("could not carry the recorded tick of %s over to %s: %s", old, new, exc)
                close_old_connections()

    def record(self, entry: Entry, tick: datetime) -> None:
        """Move the entry's recorded tick forward to ``tick`` (never back: clocks may write out of
        order), or to the new schedule's tick after a reschedule."""
        try:
            newer_or_rescheduled = Q(last_tick__lt=tick) | ~Q(signature=entry.signature)
            moved = ClockTick.objects.filter(newer_or_rescheduled, name=entry.name).update(
                last_tick=tick, signature=entry.signature
            )
            if not moved:
                ClockTick.objects.bulk_create(
                    [ClockTick(name=entry.name, signature=entry.signature, last_tick=tick)], ignore_conflicts=True
                )
        except DatabaseError as exc:
            logger.error("could not record tick %s of %s in the database: %s", tick.isoformat(), entry.name, exc)
            close_old_connections()

    def close(self) -> None:
        """At shutdown: end the database session now, not when the server notices the exit."""
        connections.close_all()
