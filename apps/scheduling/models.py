from django.db import models


class ClockTick(models.Model):
    """The latest tick claimed for each clock entry, kept in the database as well as in Redis.

    Redis holds the clock's working state (claims, pauses, runs). This row is what survives
    losing Redis without persistence: a clock that finds an entry missing from Redis resumes
    from here, so a tick that fell in the outage still runs once (catch-up), instead of the
    entry starting again from its latest past tick and skipping it for good (a daily entry
    would skip its day). Written by ``apps.scheduling.ticks`` only.
    """

    name = models.CharField(primary_key=True, max_length=100)
    # Entry.signature (schedule|zone): a recorded tick of another schedule is not resumed from.
    signature = models.CharField(max_length=200)
    last_tick = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_tick.isoformat()}"
