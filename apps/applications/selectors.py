"""Reads of applications: what is due for the timed rules, and what a user may see."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Now

from apps.applications.chasers import chaser_rule
from apps.applications.models import (
    AWAITING_DECISION_STATES,
    Application,
    ApplicationState,
    ChaserSent,
    RecruitmentCycle,
)

#: States with a live deadline, and the field that holds it.
LIVE_DEADLINES = {
    ApplicationState.AWAITING_PROVIDER_DECISION: "reject_by_default_at",
    ApplicationState.INTERVIEWING: "reject_by_default_at",
    ApplicationState.OFFER: "decline_by_default_at",
}


class Due(NamedTuple):
    """An application whose deadline has passed, and that deadline (a sweep's keyset cursor)."""

    pk: int
    deadline: datetime


def _due(*, states, field: str, limit: int, after: Due | None) -> list[Due]:
    """Due rows (database clock), oldest deadline first, after ``after``: a range of a partial index."""
    qs = Application.objects.filter(state__in=states, **{f"{field}__lte": Now()})
    if after is not None:
        qs = qs.filter(**{f"{field}__gte": after.deadline}).filter(
            Q(**{f"{field}__gt": after.deadline}) | Q(pk__gt=after.pk)
        )
    return [Due(pk, deadline) for pk, deadline in qs.order_by(field, "pk").values_list("pk", field)[:limit]]


def applications_due_for_rejection(*, limit: int, after: Due | None = None) -> list[Due]:
    """Applications past their reject-by-default deadline, oldest first, a page at a time."""
    return _due(states=AWAITING_DECISION_STATES, field="reject_by_default_at", limit=limit, after=after)


def applications_due_for_decline(*, limit: int, after: Due | None = None) -> list[Due]:
    """Offers past their decline-by-default deadline, oldest first, a page at a time."""
    return _due(states=(ApplicationState.OFFER,), field="decline_by_default_at", limit=limit, after=after)


def application_ids_due_for_chaser(*, kind: str, now: datetime, limit: int, include_past: bool = False) -> list[int]:
    """Applications inside the ``kind`` chaser's window and not yet chased, nearest deadline first.

    The window is a range of the deadline, ``(database now, end of the Nth working day]``,
    one bound per cycle (each cycle has its own non-working periods), so the read is a
    range scan of the partial deadline index rather than a working-day sum per row.
    """
    rule = chaser_rule(kind)
    field = rule.deadline_field
    cycles = list(RecruitmentCycle.objects.prefetch_related("non_working_periods"))
    if not cycles:
        return []
    bounds = {cycle.pk: rule.window_end(cycle=cycle, now=now) for cycle in cycles}
    in_window = Q()
    for cycle_id, bound in bounds.items():
        in_window |= Q(cycle_id=cycle_id, **{f"{field}__lte": bound})
    qs = Application.objects.filter(in_window, state__in=rule.states, **{f"{field}__lte": max(bounds.values())})
    if not include_past:
        qs = qs.filter(**{f"{field}__gt": Now()})
    already = ChaserSent.objects.filter(application=OuterRef("pk"), kind=rule.kind)
    return list(qs.filter(~Exists(already)).order_by(field).values_list("pk", flat=True)[:limit])


def cycle_ids_to_close() -> list[int]:
    """Cycles whose apply deadline has passed (database clock) and that still have unsubmitted applications."""
    unsubmitted = Application.objects.filter(cycle=OuterRef("pk"), state=ApplicationState.UNSUBMITTED)
    return list(
        RecruitmentCycle.objects.filter(apply_deadline__lte=Now())
        .filter(Exists(unsubmitted))
        .order_by("year")
        .values_list("pk", flat=True)
    )


def application_ids_unsubmitted(*, cycle_id: int, after_id: int, limit: int) -> list[int]:
    """The next ``limit`` unsubmitted applications of a cycle after ``after_id`` (keyset pages, partial index)."""
    return list(
        Application.objects.filter(cycle_id=cycle_id, state=ApplicationState.UNSUBMITTED, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def application_ids_with_live_deadlines(*, cycle_id: int, after_id: int, limit: int) -> list[int]:
    """The next ``limit`` applications of a cycle with a live RBD or DBD after ``after_id`` (keyset pages)."""
    return list(
        Application.objects.filter(cycle_id=cycle_id, state__in=list(LIVE_DEADLINES), pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class Overdue:
    """Deadlines that have passed but whose timed rule has not run yet."""

    rule: str
    count: int
    oldest: datetime | None
    sample_ids: list[int]

    def lag_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def _older_than(grace: timedelta):
    return ExpressionWrapper(Now() - grace, output_field=DateTimeField())


def overdue_deadlines(*, grace: timedelta = timedelta(0)) -> list[Overdue]:
    """Reject- and decline-by-default deadlines passed more than ``grace`` ago (database clock)."""
    result = []
    for rule, states, field in (
        ("reject_by_default", AWAITING_DECISION_STATES, "reject_by_default_at"),
        ("decline_by_default", (ApplicationState.OFFER,), "decline_by_default_at"),
    ):
        qs = Application.objects.filter(state__in=states, **{f"{field}__lte": _older_than(grace)})
        stats = qs.aggregate(count=Count("pk"), oldest=Min(field))
        sample = list(qs.order_by(field).values_list("pk", flat=True)[:10]) if stats["count"] else []
        result.append(Overdue(rule=rule, count=stats["count"], oldest=stats["oldest"], sample_ids=sample))
    return result


def unsubmitted_after_close(*, grace: timedelta) -> Overdue:
    """Unsubmitted applications in cycles whose apply deadline passed more than ``grace`` ago."""
    closed = RecruitmentCycle.objects.filter(apply_deadline__lte=_older_than(grace))
    qs = Application.objects.filter(state=ApplicationState.UNSUBMITTED, cycle__in=closed)
    stats = qs.aggregate(count=Count("pk"), oldest=Min("cycle__apply_deadline"))
    sample = list(qs.order_by("pk").values_list("pk", flat=True)[:10]) if stats["count"] else []
    return Overdue(rule="close_cycle", count=stats["count"], oldest=stats["oldest"], sample_ids=sample)


def application_ids_in_timed_state_without_deadline(*, limit: int = 10) -> tuple[int, list[int]]:
    """(count, first ids) of applications whose state has a deadline but whose deadline is empty."""
    missing = Q()
    for state, field in LIVE_DEADLINES.items():
        missing |= Q(state=state, **{f"{field}__isnull": True})
    qs = Application.objects.filter(missing)
    count = qs.count()
    return count, (list(qs.order_by("pk").values_list("pk", flat=True)[:limit]) if count else [])


def application_counts_by_state() -> dict[str, int]:
    """Every state with its number of applications (0 included), in the order of the state machine."""
    counts = {row["state"]: row["n"] for row in Application.objects.values("state").annotate(n=Count("pk")).order_by()}
    return {state: counts.get(state, 0) for state in ApplicationState.values}


def applications_visible_to(user) -> QuerySet[Application]:
    """Support users see everything, provider users their provider's, candidates their own."""
    qs = Application.objects.select_related("course__provider", "candidate", "cycle")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    provider_user = getattr(user, "provider_user", None)
    if provider_user is not None:
        # Providers see applications once submitted, never a candidate's draft.
        return qs.filter(course__provider_id=provider_user.provider_id).exclude(state=ApplicationState.UNSUBMITTED)
    return qs.filter(candidate=user)


def application_list(*, user, state: str = "", query: str = "") -> QuerySet[Application]:
    qs = applications_visible_to(user)
    if state:
        qs = qs.filter(state=state)
    if query:
        qs = qs.filter(
            Q(candidate__username__icontains=query)
            | Q(candidate__email__icontains=query)
            | Q(course__name__icontains=query)
            | Q(course__code__iexact=query)
        )
    return qs.order_by("reject_by_default_at", "-pk")
