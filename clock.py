#!/usr/bin/env python
"""The clock: enqueues jobs on the timetable below, and does no work itself.

    python clock.py            run (any number of clocks may run: each tick is enqueued once)
    python clock.py --list     print the timetable with next run times, and exit
    python clock.py --check    validate the timetable (schedules, zones, names, job imports), and exit

CLOCK_TIMETABLE=package.module.NAME runs another timetable (tests and benchmarks use
second-level ones); CLOCK_POLL_INTERVAL sets the seconds between polls (default 0.5).
"""

import argparse
import os
import sys

from apps.scheduling.timetable import Entry, TimetableError, timetable_from_setting, validate_timetable

LONDON = "Europe/London"

#: Each entry is named after the job function it runs (``job``'s last part), so a run seen in
#: the logs, the job ids (``clock-<name>-<tick>``) or the metrics' ``entry`` label leads
#: straight to the code; ``title`` is what the Schedule page shows.
TIMETABLE = [
    Entry(
        name="applications_reject_due",
        title="Reject applications by default",
        schedule="* * * * *",
        tz=LONDON,
        job="jobs.applications.applications_reject_due",
        queue="sweeps",
        why="Deadlines fall at any minute (end of day, or a cycle cap); a minute's sweep keeps the "
        "deadline-to-decision lag within the 90 s goal.",
    ),
    Entry(
        name="applications_decline_due",
        title="Decline offers by default",
        schedule="* * * * *",
        tz=LONDON,
        job="jobs.applications.applications_decline_due",
        queue="sweeps",
        why="Like rejection: offers expire at the end of a London day, and the minute sweep keeps "
        "the lag from deadline to declined within the 90 s goal.",
    ),
    Entry(
        name="outbox_emails_deliver_due",
        title="Deliver outbox",
        schedule="* * * * *",
        tz=LONDON,
        job="jobs.outbox.outbox_emails_deliver_due",
        queue="sweeps",
        why="Safety net: delivery is enqueued on commit, this catches emails whose job was lost "
        "(Redis down at commit, a killed worker) within a minute.",
    ),
    Entry(
        name="applications_chase_providers_due",
        title="Chase providers",
        schedule="35 * * * *",
        tz=LONDON,
        job="jobs.chasers.applications_chase_providers_due",
        queue="sweeps",
        why="The window is counted in working days, so an hour's delay is harmless; hourly (not "
        "daily) so a missed run costs an hour. Off the hour, apart from the other hourly entries.",
    ),
    Entry(
        name="applications_chase_candidates_due",
        title="Chase candidates",
        schedule="40 * * * *",
        tz=LONDON,
        job="jobs.chasers.applications_chase_candidates_due",
        queue="sweeps",
        why="As applications_chase_providers_due, five minutes later so the two fan-outs do not share a worker burst.",
    ),
    Entry(
        name="invariants_check",
        title="Detect invariants",
        schedule="30 * * * *",
        tz=LONDON,
        job="jobs.monitoring.invariants_check",
        queue="sweeps",
        why="Lag, missing deadlines and stuck emails are caught within the hour; at :30, away from "
        "the chasers' fan-out, so their own queue time is not mistaken for lag.",
    ),
    Entry(
        name="cycles_close_due",
        title="Close cycle",
        schedule="1 0 * * *",
        tz=LONDON,
        job="jobs.cycles.cycles_close_due",
        queue="sweeps",
        why="Apply deadlines are set in London time; just after midnight closes the day's deadline "
        "overnight. The job acts only on cycles whose deadline has passed, so a daily run is safe.",
    ),
    Entry(
        name="daily_report_send",
        title="Daily report",
        schedule="0 8 * * 1-5",
        tz=LONDON,
        job="jobs.monitoring.daily_report_send",
        queue="sweeps",
        why="Support reads it at the start of the working day, after the night's cycles_close_due and "
        "the 07:30 invariant check; weekdays only, nobody reads it at the weekend.",
    ),
    Entry(
        name="sessions_clear_expired",
        title="Clear sessions",
        schedule="17 3 * * *",
        tz=LONDON,
        job="jobs.maintenance.sessions_clear_expired",
        queue="sweeps",
        why="Housekeeping at a quiet hour, off the hour so it does not coincide with other daily work.",
    ),
]


#: Entries renamed: old name -> new name (like jobs/renamed.py for job paths). At start-up a
#: clock gives each old entry's state in Redis (last tick, pause, last job, runs) and its
#: recorded tick in the database to the new name, once, so a deploy that renames entries
#: neither skips a tick that fell while no clock ran nor forgets a pause
#: (tests/apps/scheduling/test_clock_renames.py). A line can go once every deployment has
#: run a clock of this version: the old names are gone from Redis and the database then.
RENAMED_ENTRIES = {
    # 2026-11: entries named after their jobs (issue 12).
    "reject_applications_by_default": "applications_reject_due",
    "decline_offers_by_default": "applications_decline_due",
    "deliver_outbox": "outbox_emails_deliver_due",
    "chase_providers": "applications_chase_providers_due",
    "chase_candidates": "applications_chase_candidates_due",
    "detect_invariants": "invariants_check",
    "close_cycle": "cycles_close_due",
    "daily_report": "daily_report_send",
    "clear_sessions": "sessions_clear_expired",
}


def _print_timetable(entries: list[Entry]) -> None:
    """Each entry with its next run, and its last runs as recorded in Redis (if reachable)."""
    from redis.exceptions import RedisError

    from apps.core.redis import redis_connection
    from apps.scheduling.clock_state import ClockState
    from apps.scheduling.runner import utc_now

    now = utc_now()
    try:
        state = ClockState(redis_connection())
        overview = {row["name"]: row for row in state.overview(now, runs=3)}
    except RedisError as exc:
        overview = {}
        print(f"(Redis not reachable, last runs not shown: {exc})")
    for entry in entries:
        known = overview.get(entry.name, {})
        next_run = entry.next_after(max(filter(None, [known.get("last_tick"), now]))).astimezone(entry.zone)
        paused = " PAUSED" if known.get("paused") else ""
        print(f"{entry.name:28} {entry.schedule:14} {entry.tz:15} next {next_run:%Y-%m-%d %H:%M:%S %Z}{paused}")
        print(f"{'':28} {entry.describe()}; {entry.job} on queue {entry.queue!r}")
        for run in known.get("runs", []):
            print(f"{'':28} last: tick {run['tick']} job {run.get('job_id') or '-'} {run['outcome']}: {run['status']}")


def _setup_django() -> None:
    """Only when run: importing this module (the tests do) changes no environment."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SERVICE_NAME", "clock")
    import django

    django.setup()


def main(argv=None) -> int:
    _setup_django()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the timetable with next and last runs")
    parser.add_argument("--check", action="store_true", help="validate the timetable")
    args = parser.parse_args(argv)
    try:
        entries = timetable_from_setting(TIMETABLE, os.environ.get("CLOCK_TIMETABLE"))
        validate_timetable(entries)
    except TimetableError as exc:
        print(f"clock.py: invalid timetable: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"timetable OK: {len(entries)} entries")
        return 0
    if args.list:
        _print_timetable(entries)
        return 0

    from apps.core.redis import redis_connection
    from apps.scheduling.runner import Clock
    from apps.scheduling.ticks import DatabaseTicks

    clock = Clock(
        entries,
        redis_connection(),
        poll_interval=float(os.environ.get("CLOCK_POLL_INTERVAL", "0.5")),
        ticks=DatabaseTicks(),
        renamed=RENAMED_ENTRIES,
    )
    clock.install_signal_handlers()
    clock.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
