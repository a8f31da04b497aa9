"""Recruitment cycles: closing a cycle, and its non-working periods with the deadline recalculation they cause.

**End of cycle.** Once a cycle's apply deadline has passed (by the database's clock), its
unsubmitted applications become ``application_not_sent``. The daily clock entry only ever
acts after the deadline; support can close a cycle by hand with
``manage.py close_cycle --year YYYY`` (the same rule, now rather than at 00:01) and, with
``--force``, before its apply deadline too.

**Deadline recalculation.** Adding, changing or removing a non-working period, or moving
the cycle's reject-by-default date (the services of ``apps.applications.timetables``, which
the admin calls, and which audit each edit) enqueues, on commit, a job that recalculates every live deadline of the cycle in batches
(one job per change; a later job of the same save finds nothing left to move): the RBD of applications awaiting a decision (from ``submitted_at``, capped at
the cycle's reject-by-default date) and the DBD of open offers (from ``offered_at``).
Each application whose deadline moved gets a ``deadline_recalculated`` event with the
old and new values. A deadline may move into the past (a period was removed): the
application is then due, and the next sweep applies the timed rule.
"""

import uuid
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from apps.applications.actors import Actor
from apps.applications.batches import BatchResult, batch_run_isolated
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import DomainError
from apps.applications.models import Application, ApplicationEvent, RecruitmentCycle
from apps.applications.rules import CLOSE_CYCLE, DEADLINE_OF_STATE, DEADLINES, LIVE_DEADLINES
from apps.applications.selectors import application_ids_unsubmitted
from apps.applications.working_days import LONDON
from apps.core.enqueue import enqueue_on_commit

CLOSE_BATCH_SIZE = 1000


class CycleNotClosable(DomainError):
    pass


# --- End of cycle --------------------------------------------------------------------


def _mark_not_sent_set(application_ids: list[int], actor: Actor, force: bool) -> int:
    eligible = {"state": CLOSE_CYCLE.from_state}
    if not force:
        eligible["cycle__apply_deadline__lte"] = Now()
    with transaction.atomic():
        ids = list(
            Application.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=application_ids, **eligible)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        changed = Application.objects.filter(pk__in=ids, state=CLOSE_CYCLE.from_state).update(
            state=CLOSE_CYCLE.to_state, updated_at=Now()
        )
        if changed != len(ids):
            raise RuntimeError(f"compare-and-set changed {changed} of {len(ids)} locked rows")
        ApplicationEvent.objects.bulk_create(
            [
                ApplicationEvent(
                    application_id=pk,
                    kind=CLOSE_CYCLE.kind,
                    from_state=CLOSE_CYCLE.from_state,
                    to_state=CLOSE_CYCLE.to_state,
                    detail={"forced": True} if force else {},
                    **actor.event_fields(),
                )
                for pk in ids
            ]
        )
        return len(ids)


def applications_mark_not_sent(*, application_ids: list[int], actor: Actor, force: bool = False) -> BatchResult:
    """Unsubmitted → application_not_sent for the ids whose cycle's apply deadline has passed.

    ``force`` drops the deadline condition (support closing a cycle early); the state is
    always re-checked, so submitted or already closed applications are left alone.
    """
    return batch_run_isolated(lambda ids: _mark_not_sent_set(ids, actor, force), application_ids, what=CLOSE_CYCLE.kind)


def cycle_close(*, year: int, actor: Actor, force: bool = False, batch_size: int = CLOSE_BATCH_SIZE) -> BatchResult:
    """Close the ``year`` cycle now, in batches (one transaction each). For support's manual run.

    Refuses before the cycle's apply deadline (database clock) unless ``force``.
    """
    cycle = RecruitmentCycle.objects.filter(year=year).first()
    if cycle is None:
        raise CycleNotClosable(f"There is no {year} cycle.")
    if not force and not RecruitmentCycle.objects.filter(pk=cycle.pk, apply_deadline__lte=Now()).exists():
        raise CycleNotClosable(
            f"The {cycle}'s apply deadline ({timezone.localtime(cycle.apply_deadline, LONDON):%d %B %Y %H:%M %Z}) "
            "has not passed: "
            "candidates can still submit. Use --force to close it anyway."
        )
    total = BatchResult()
    after_id = 0
    while ids := application_ids_unsubmitted(cycle_id=cycle.pk, after_id=after_id, limit=batch_size):
        result = applications_mark_not_sent(application_ids=ids, actor=actor, force=force)
        total.changed += result.changed
        total.skipped += result.skipped
        total.failed += result.failed
        after_id = ids[-1]
    return total


# --- Deadline recalculation -----------------------------------------------------------


def recalculate_live_deadlines(cycle_id: int) -> bool:
    """After a calendar change: recalculate the deadlines already set in the cycle, if it has any.

    A deadline computed after the change already counts it, so a cycle without live deadlines
    needs no job (and a queued job would overwrite deadlines set after it was queued: the demo
    data moves some to the next minutes). True if a recalculation was enqueued.
    """
    if not Application.objects.filter(cycle_id=cycle_id, deadline_at__isnull=False).exists():
        return False
    cycle_deadlines_recalculate_enqueue(cycle_id=cycle_id)
    return True


def cycle_deadlines_recalculate_enqueue(*, cycle_id: int) -> None:
    """After the current transaction commits, recalculate the cycle's live deadlines (a job)."""
    enqueue_on_commit(
        "default",
        "jobs.cycles.cycle_deadlines_recalculate",
        cycle_id,
        job_id=f"recalculate-cycle-{cycle_id}-{uuid.uuid4().hex}",
    )


def _new_deadline(application: Application, calendar) -> tuple[str, object] | tuple[None, None]:
    """(field, recalculated value) for the application's live deadline, or (None, None) if it has none."""
    deadline = DEADLINE_OF_STATE.get(application.state)
    start = getattr(application, deadline.starts_field) if deadline else None
    if start is None:
        return None, None
    return deadline.field, deadline.at(start=start, calendar=calendar, cap=application.cycle.reject_by_default_date)


def _recalculate_set(application_ids: list[int], actor: Actor) -> int:
    with transaction.atomic():
        applications = list(
            Application.objects.select_for_update(of=("self",))
            .filter(pk__in=application_ids, state__in=list(LIVE_DEADLINES))
            .select_related("cycle")
            .prefetch_related("cycle__non_working_periods")
            .order_by("pk")
        )
        calendars = {}
        moved = []
        events = []
        for application in applications:
            if application.cycle_id not in calendars:
                calendars[application.cycle_id] = calendar_for_cycle(application.cycle)
            field, new = _new_deadline(application, calendars[application.cycle_id])
            old = getattr(application, field) if field else None
            if field is None or old == new:
                continue
            setattr(application, field, new)
            application.updated_at = Now()
            moved.append(application)
            events.append(
                ApplicationEvent(
                    application=application,
                    kind="deadline_recalculated",
                    from_state=application.state,
                    to_state=application.state,
                    detail={"deadline": field, "old": old.isoformat() if old else None, "new": new.isoformat()},
                    **actor.event_fields(),
                )
            )
        if moved:
            Application.objects.bulk_update(
                moved, [*(deadline.field for deadline in DEADLINES), "updated_at"], batch_size=500
            )
            ApplicationEvent.objects.bulk_create(events)
        return len(moved)


def applications_recalculate_deadlines(*, application_ids: list[int], actor: Actor) -> BatchResult:
    """Recalculate the live deadline of each application among the ids from the cycle's current calendar.

    ``changed`` counts the applications whose deadline moved. The calendar is read when the
    batch runs, so batches of an older job that run late still use the latest periods.
    """
    return batch_run_isolated(lambda ids: _recalculate_set(ids, actor), application_ids, what="deadline recalculation")
