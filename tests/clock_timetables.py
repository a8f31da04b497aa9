"""Timetables with second-level ticks for tests that run real clock processes
(``CLOCK_TIMETABLE=tests.clock_timetables.EVERY_SECOND python clock.py``)."""

from apps.scheduling.timetable import Entry

JOB = "jobs.maintenance.sessions_clear_expired"  # never run: these tests start no worker

EVERY_SECOND = [
    Entry(name="every_second", schedule="* * * * * *", tz="UTC", job=JOB, queue="sweeps", why="test", skip_if_running=False),
    Entry(name="every_two_seconds", schedule="*/2 * * * * *", tz="Europe/London", job=JOB, queue="sweeps", why="test", skip_if_running=False),
]

SLOW_SWEEP_EVERY_SECOND = [
    Entry(name="slow_sweep", schedule="* * * * * *", tz="UTC", job="tests.slow_jobs.slow_sweep", queue="sweeps",
          why="test: takes 2.5 s, ticks every second"),
]

FAST_SWEEPS = [
    Entry(name="applications_reject_due", schedule="*/2 * * * * *", tz="UTC",
          job="jobs.applications.applications_reject_due", queue="sweeps", why="test: the minute sweep, faster"),
    Entry(name="outbox_emails_deliver_due", schedule="*/2 * * * * *", tz="UTC", job="jobs.outbox.outbox_emails_deliver_due",
          queue="sweeps", why="test: the minute sweep, faster"),
]

REJECT_SWEEP_EVERY_TWO_SECONDS = [
    Entry(name="applications_reject_due", schedule="*/2 * * * * *", tz="UTC",
          job="jobs.applications.applications_reject_due", queue="sweeps", why="test: the minute sweep, faster"),
]

EVERY_TEN_SECONDS = [
    Entry(name="every_ten_seconds", schedule="*/10 * * * * *", tz="UTC", job=JOB, queue="sweeps", why="test",
          skip_if_running=False),
]

BROWSER_TESTS = [
    Entry(name="applications_decline_due", schedule="*/2 * * * * *", tz="UTC",
          job="jobs.applications.applications_decline_due", queue="sweeps",
          why="test: the minute sweep, faster, so a browser sees an offer declined by default in seconds"),
    Entry(name="applications_reject_due", schedule="*/2 * * * * *", tz="UTC",
          job="jobs.applications.applications_reject_due", queue="sweeps",
          why="test: the minute sweep, faster"),
    Entry(name="invariants_check", schedule="30 * * * *", tz="Europe/London", job="jobs.monitoring.invariants_check",
          queue="sweeps", why="test: hourly as in production, so the run a browser starts with Run now stays in view"),
]
