"""Support's edits of recruitment timetables: a cycle's dates and its non-working periods.

Every edit goes through these services (the admin calls them): each validates (the dates in
order, ``RecruitmentCycle.clean``; a period's days in order; a cycle governed by exactly one
rule set), writes a ``CycleChange`` with who changed what, before and after, in the same
transaction as the change, and, when the change moves what live deadlines are computed from,
enqueues their recalculation on commit (``cycles.cycle_deadlines_recalculate_enqueue``: every
application whose deadline moves gets a ``deadline_recalculated`` event on its timeline).
A refused edit raises ``ValidationError`` or ``DomainError`` and writes nothing.
"""

from datetime import UTC, date, datetime

from django.db import transaction

from apps.applications.actors import Actor
from apps.applications.cycles import recalculate_live_deadlines
from apps.applications.errors import locked_or_refused
from apps.applications.models import Course, CycleChange, NonWorkingPeriod, RecruitmentCycle
from apps.applications.models.cycles import CYCLE_DATE_FIELDS

#: The cycle's dates today's rules read once a deadline is set: the reject-by-default date
#: caps every RBD (``rules.RBD_DEADLINE``), so moving it recalculates them. The others are
#: read when something happens (the apply deadline on submission and at the cycle's close) or
#: by the 2024-on rules still to come: when a rule reads one into a live deadline, add it here.
DATES_LIVE_DEADLINES_READ = frozenset({"reject_by_default_date"})
CYCLE_FIELDS = ("year", *CYCLE_DATE_FIELDS)
PERIOD_FIELDS = ("name", "starts_on", "ends_on")


def _json(value):
    """Moments in UTC, days as dates, both ISO 8601."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat() if isinstance(value, date) else value


def _record(*, cycle_id: int, kind: str, actor: Actor, before=None, after=None, subject="", recalculated=False):
    CycleChange.objects.create(
        cycle_id=cycle_id,
        kind=kind,
        subject=subject,
        before={name: _json(value) for name, value in (before or {}).items()},
        after={name: _json(value) for name, value in (after or {}).items()},
        recalculated=recalculated,
        **actor.event_fields(),
    )


def cycle_create(*, actor: Actor, year: int, **dates: datetime) -> RecruitmentCycle:
    """A new cycle, with every date of ``CYCLE_DATE_FIELDS`` (no applications yet, so nothing to recalculate)."""
    if missing := set(CYCLE_DATE_FIELDS) - dates.keys():
        raise TypeError(f"cycle_create() needs {', '.join(sorted(missing))}")
    if unknown := dates.keys() - set(CYCLE_DATE_FIELDS):
        raise TypeError(f"cycle_create() got unknown dates {', '.join(sorted(unknown))}")
    with transaction.atomic():
        cycle = RecruitmentCycle(year=year, **dates)
        cycle.full_clean()
        cycle.save()
        _record(cycle_id=cycle.pk, kind=CycleChange.Kind.CYCLE_CREATED, actor=actor,
                after={name: getattr(cycle, name) for name in CYCLE_FIELDS})
    return cycle


def cycle_update(*, cycle_id: int, actor: Actor, **changes) -> bool:
    """Change a cycle's year or dates (only those given); True if its live deadlines will be recalculated after commit.

    Nothing changed: no audit row, no recalculation. A date in ``DATES_LIVE_DEADLINES_READ``
    moved: the cycle's live deadlines are recalculated (if it has any).
    """
    if unknown := changes.keys() - set(CYCLE_FIELDS):
        raise TypeError(f"cycle_update() got unknown fields {', '.join(sorted(unknown))}")
    with transaction.atomic():
        cycle = locked_or_refused(RecruitmentCycle, cycle_id, "Recruitment cycle")
        before = {name: getattr(cycle, name) for name in changes if getattr(cycle, name) != changes[name]}
        if not before:
            return False
        for name, value in changes.items():
            setattr(cycle, name, value)
        cycle.full_clean()
        cycle.save(update_fields=list(before))
        recalculating = bool(before.keys() & DATES_LIVE_DEADLINES_READ) and recalculate_live_deadlines(cycle_id)
        _record(cycle_id=cycle_id, kind=CycleChange.Kind.CYCLE_CHANGED, actor=actor, before=before,
                after={name: changes[name] for name in before}, recalculated=recalculating)
        return recalculating


def _subject(period: NonWorkingPeriod) -> str:
    return f"{period.name} (period {period.pk})"


def non_working_period_add(*, cycle_id: int, actor: Actor, name: str, starts_on: date, ends_on: date) -> NonWorkingPeriod:
    """Add a non-working period to a cycle; live deadlines are recalculated after commit."""
    with transaction.atomic():
        period = NonWorkingPeriod(cycle_id=cycle_id, name=name, starts_on=starts_on, ends_on=ends_on)
        period.full_clean()
        period.save()
        recalculating = recalculate_live_deadlines(cycle_id)
        _record(cycle_id=cycle_id, kind=CycleChange.Kind.PERIOD_ADDED, actor=actor, subject=_subject(period),
                after={field: getattr(period, field) for field in PERIOD_FIELDS}, recalculated=recalculating)
    return period


def non_working_period_change(*, period_id: int, actor: Actor, name: str, starts_on: date, ends_on: date) -> bool:
    """Rename or move a non-working period; True if its dates moved, so live deadlines are recalculated after commit."""
    with transaction.atomic():
        period = locked_or_refused(NonWorkingPeriod, period_id, "Non-working period")
        new = {"name": name, "starts_on": starts_on, "ends_on": ends_on}
        before = {field: getattr(period, field) for field in PERIOD_FIELDS if getattr(period, field) != new[field]}
        if not before:
            return False
        period.name, period.starts_on, period.ends_on = name, starts_on, ends_on
        period.full_clean()
        period.save()
        moved = bool(before.keys() - {"name"})
        recalculating = moved and recalculate_live_deadlines(period.cycle_id)
        _record(cycle_id=period.cycle_id, kind=CycleChange.Kind.PERIOD_CHANGED, actor=actor, subject=_subject(period),
                before=before, after={field: new[field] for field in before}, recalculated=recalculating)
        return recalculating


def non_working_period_remove(*, period_id: int, actor: Actor) -> bool:
    """Remove a non-working period; True if live deadlines will be recalculated after commit."""
    with transaction.atomic():
        period = locked_or_refused(NonWorkingPeriod, period_id, "Non-working period")
        subject, before = _subject(period), {field: getattr(period, field) for field in PERIOD_FIELDS}
        period.delete()
        recalculating = recalculate_live_deadlines(period.cycle_id)
        _record(cycle_id=period.cycle_id, kind=CycleChange.Kind.PERIOD_REMOVED, actor=actor, subject=subject,
                before=before, recalculated=recalculating)
        return recalculating


def course_start_month_set(*, course_id: int, start_month: int) -> None:
    """Set the month a course starts (which of its cycle's timetables it follows: summer or winter).

    Its own service until ``services.course_create`` / ``course_update`` take the month (their
    module is being split this session). Today's rules read no winter date, so nothing moves.
    """
    with transaction.atomic():
        course = locked_or_refused(Course, course_id, "Course")
        if course.start_month != start_month:
            course.start_month = start_month
            course.full_clean()
            course.save(update_fields=["start_month"])
