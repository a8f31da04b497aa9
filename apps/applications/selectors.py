"""Reads of applications: what is due for the timed rules, what a user may see, and the time left to a deadline."""

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Now, Upper
from django.db.models.lookups import GreaterThan, LessThan
from django.utils import timezone

from apps.applications.auth import is_support
from apps.applications.calendars import calendar_for_cycle, calendars_for_cycle_ids
from apps.applications.models import Application, ApplicationEvent, ApplicationState, Course, RecruitmentCycle
from apps.applications.rules import (
    AWAITING_DECISION_STATES,
    CLOSE_CYCLE,
    DECLINE_BY_DEFAULT,
    LIVE_DEADLINES,
    REJECT_BY_DEFAULT,
    TIMED_RULES,
    TimedRule,
    chaser_rule,
)
from apps.applications.working_days import LONDON, working_days_left


class Due(NamedTuple):
    """An application whose deadline has passed, and that deadline (a sweep's keyset cursor)."""

    pk: int
    deadline: datetime


def _due(*, rule: TimedRule, limit: int, after: Due | None) -> list[Due]:
    """Due rows (database clock), oldest deadline first, after ``after``: a range of a partial index."""
    field = rule.deadline_field
    qs = Application.objects.filter(state__in=rule.from_states, **{f"{field}__lte": Now()})
    if after is not None:
        qs = qs.filter(**{f"{field}__gte": after.deadline}).filter(
            Q(**{f"{field}__gt": after.deadline}) | Q(pk__gt=after.pk)
        )
    return [Due(pk, deadline) for pk, deadline in qs.order_by(field, "pk").values_list("pk", field)[:limit]]


def applications_due_for_rejection(*, limit: int, after: Due | None = None) -> list[Due]:
    """Applications past their reject-by-default deadline, oldest first, a page at a time."""
    return _due(rule=REJECT_BY_DEFAULT, limit=limit, after=after)


def applications_due_for_decline(*, limit: int, after: Due | None = None) -> list[Due]:
    """Offers past their decline-by-default deadline, oldest first, a page at a time."""
    return _due(rule=DECLINE_BY_DEFAULT, limit=limit, after=after)


def application_ids_due_for_chaser(*, kind: str, now: datetime, limit: int, include_past: bool = False) -> list[int]:
    """Applications inside the ``kind`` chaser's window and not yet chased, nearest deadline first.

    The window is a range of the deadline, ``(database now, end of the Nth working day]``,
    one bound per cycle (each cycle has its own non-working periods), read from the partial
    index of the applications not chased yet: cost follows what is due, not the window.
    """
    rule = chaser_rule(kind)
    field = rule.deadline_field
    cycles = list(RecruitmentCycle.objects.prefetch_related("non_working_periods"))
    if not cycles:
        return []
    bounds = {cycle.pk: rule.window_end(calendar=calendar_for_cycle(cycle), now=now) for cycle in cycles}
    in_window = Q()
    for cycle_id, bound in bounds.items():
        in_window |= Q(cycle_id=cycle_id, **{f"{field}__lte": bound})
    qs = Application.objects.filter(
        in_window, state__in=rule.states, **{rule.sent_field: False, f"{field}__lte": max(bounds.values())}
    )
    if not include_past:
        qs = qs.filter(**{f"{field}__gt": Now()})
    # The flag, not an anti-join with ChaserSent: the service re-checks ChaserSent under the
    # row lock (and sets a missing flag), so a stale flag costs one selection, never an email.
    return list(qs.order_by(field).values_list("pk", flat=True)[:limit])


def cycle_ids_to_close() -> list[int]:
    """Cycles whose apply deadline has passed (database clock) and that still have unsubmitted applications."""
    unsubmitted = Application.objects.filter(cycle=OuterRef("pk"), state=CLOSE_CYCLE.from_state)
    return list(
        RecruitmentCycle.objects.filter(apply_deadline__lte=Now())
        .filter(Exists(unsubmitted))
        .order_by("year")
        .values_list("pk", flat=True)
    )


def application_ids_unsubmitted(*, cycle_id: int, after_id: int, limit: int) -> list[int]:
    """The next ``limit`` unsubmitted applications of a cycle after ``after_id`` (keyset pages, partial index)."""
    return list(
        Application.objects.filter(cycle_id=cycle_id, state=CLOSE_CYCLE.from_state, pk__gt=after_id)
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
    for rule in TIMED_RULES:
        field = rule.deadline_field
        qs = Application.objects.filter(state__in=rule.from_states, **{f"{field}__lte": _older_than(grace)})
        stats = qs.aggregate(count=Count("pk"), oldest=Min(field))
        sample = list(qs.order_by(field).values_list("pk", flat=True)[:10]) if stats["count"] else []
        result.append(Overdue(rule=rule.kind, count=stats["count"], oldest=stats["oldest"], sample_ids=sample))
    return result


def timed_transitions_last_minute() -> dict[str, int]:
    """How many reject/decline-by-default transitions the jobs made in the last minute (database clock)."""
    minute_ago = _older_than(timedelta(minutes=1))
    kinds = [rule.kind for rule in TIMED_RULES]
    rows = (
        ApplicationEvent.objects.filter(kind__in=kinds, created_at__gte=minute_ago)
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("kind", "n")
    )
    return {**dict.fromkeys(kinds, 0), **dict(rows)}


class TimedTransitions(NamedTuple):
    """What a timed rule's job did over a span: how many transitions, and the most one ran after its deadline."""

    count: int
    max_late_seconds: float


def timed_transitions_since(*, rule: TimedRule, since: datetime) -> TimedTransitions:
    """The ``rule`` transitions the jobs made since ``since``, and the most one ran after its deadline (0 if none)."""
    events = ApplicationEvent.objects.filter(kind=rule.kind, created_at__gte=since)
    late = ExpressionWrapper(F("created_at") - F(f"application__{rule.deadline_field}"), output_field=DurationField())
    stats = events.aggregate(count=Count("pk"), late=Max(late))
    return TimedTransitions(
        count=stats["count"], max_late_seconds=stats["late"].total_seconds() if stats["late"] is not None else 0.0
    )


def unsubmitted_after_close(*, grace: timedelta) -> Overdue:
    """Unsubmitted applications in cycles whose apply deadline passed more than ``grace`` ago."""
    closed = RecruitmentCycle.objects.filter(apply_deadline__lte=_older_than(grace))
    qs = Application.objects.filter(state=CLOSE_CYCLE.from_state, cycle__in=closed)
    stats = qs.aggregate(count=Count("pk"), oldest=Min("cycle__apply_deadline"))
    sample = list(qs.order_by("pk").values_list("pk", flat=True)[:10]) if stats["count"] else []
    return Overdue(rule="close_cycle", count=stats["count"], oldest=stats["oldest"], sample_ids=sample)


def application_ids_in_timed_state_without_deadline(*, limit: int = 10) -> tuple[int, list[int]]:
    """(count, first ids) of applications whose state has a deadline but whose deadline is empty.

    ``deadline_at`` is the live deadline the database derives from the state, so this is
    one range of the live-state deadline index whatever the table's size.
    """
    qs = Application.objects.filter(state__in=list(LIVE_DEADLINES), deadline_at__isnull=True)
    count = qs.count()
    return count, (list(qs.order_by("pk").values_list("pk", flat=True)[:limit]) if count else [])


def application_counts_by_state() -> dict[str, int]:
    """Every state with its number of applications (0 included), in the order of the state machine."""
    counts = {row["state"]: row["n"] for row in Application.objects.values("state").annotate(n=Count("pk")).order_by()}
    return {state: counts.get(state, 0) for state in ApplicationState.values}


# --- Lists: what a user may see, filtered, ordered and paged by keyset ---------------------
#
# Every list query is one index range read with LIMIT (the indexes and why are in
# Application.Meta): a page never counts or skips the rows before it.

#: Sorts the list offers: "deadline" (live deadline soonest first, rows without one last) and "newest".
SORTS = ("deadline", "newest")
#: The count stops here: past it the page says "more than", and no query reads further.
COUNT_LIMIT = 1000
#: A search needs a run of this many letters or digits (the shortest a trigram index can look up).
SEARCH_MIN_RUN = 3
SEARCH_MIN_RUN_PATTERN = re.compile(r"[^\W_]{%d}" % SEARCH_MIN_RUN)
#: A search finds at most this many candidates and courses; one that finds more is too broad to list.
SEARCH_MAX_CANDIDATES = 1000
SEARCH_MAX_COURSES = 100
#: What a list row shows besides the application (one join each, no query per row).
_LIST_RELATED = ("course__provider", "candidate")
#: What a list row shows and is keyed on, and nothing else: a page reads 25-50 rows with their
#: course, provider and candidate, and every column read is parsed per row (each
#: application has eight datetime columns, each user two). The cycle is not
#: joined: the countdowns need only its non-working periods, read once per cycle
#: (``Countdowns``).
_LIST_FIELDS = (
    "id", "state", "deadline_at", "rejected_by_default", "declined_by_default", "cycle_id", "provider_id",
    "candidate__username", "course__name", "course__code", "course__provider__name",
)


class SearchTooBroad(Exception):
    """The search matches too many candidates or courses to list; the message says what to do."""


def _provider_id(user) -> int | None:
    provider_user = getattr(user, "provider_user", None)
    return provider_user.provider_id if provider_user is not None else None


def applications_visible_to(user) -> QuerySet[Application]:
    """Support users see everything, provider users their provider's, candidates their own."""
    qs = Application.objects.select_related(*_LIST_RELATED, "cycle")
    if not user.is_authenticated:
        return qs.none()
    if is_support(user):
        return qs
    provider_id = _provider_id(user)
    if provider_id is not None:
        # Providers see applications once submitted, never a candidate's draft. The
        # application's own provider_id, so the filter is the leading column of an index.
        return qs.filter(provider_id=provider_id).exclude(state=ApplicationState.UNSUBMITTED)
    return qs.filter(candidate=user)


@dataclass(frozen=True)
class Cursor:
    """A place in a list: just after (or with ``before``, just before) the row with this sort key.

    In a URL it is an opaque token; ``decode`` accepts only what ``encode`` makes.
    """

    sort: str
    pk: int
    deadline: datetime | None = None
    before: bool = False

    @classmethod
    def at_row(cls, sort: str, application: Application, *, before: bool = False) -> "Cursor":
        deadline = application.deadline_at if sort == "deadline" else None
        return cls(sort=sort, pk=application.pk, deadline=deadline, before=before)

    def encode(self) -> str:
        deadline = self.deadline.isoformat() if self.deadline is not None else ""
        raw = "~".join((self.sort, "b" if self.before else "a", deadline, str(self.pk)))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        """The cursor in ``token``; ValueError if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError("not a cursor") from exc
        parts = raw.split("~")
        if len(parts) != 4:
            raise ValueError("not a cursor")
        sort, direction, deadline, pk = parts
        if sort not in SORTS or direction not in ("a", "b") or not pk.isascii() or not pk.isdigit():
            raise ValueError("not a cursor")
        if not 0 < int(pk) < 2**63 or (sort == "newest" and deadline):
            raise ValueError("not a cursor")
        moment = datetime.fromisoformat(deadline) if deadline else None  # ValueError if malformed
        if moment is not None:
            if moment.tzinfo is None:
                raise ValueError("not a cursor")
            try:
                # In UTC, as the database compares it: year 1 at +14:00 has no UTC value.
                moment = moment.astimezone(UTC)
            except OverflowError as exc:
                raise ValueError("not a cursor") from exc
        return cls(sort=sort, pk=int(pk), deadline=moment, before=direction == "b")


@dataclass(frozen=True)
class _Run:
    """A stretch of a sort order that one index range serves, read by ``keys``.

    ``live``: True for the rows with a live deadline only, False for the rows without one,
    None for all rows.
    """

    keys: tuple[str, ...]
    descending: bool = False
    live: bool | None = None

    def read(self, state: str) -> tuple[Q, tuple[str, ...]] | None:
        """The run's condition and ORDER BY under a state filter, or None if it has no rows."""
        if self.live is None:
            return Q(), self.keys
        if state and state not in LIVE_DEADLINES:
            # deadline_at is NULL in every other state (it is generated from the state): no
            # live run, and the rest is the state's rows by id.
            return None if self.live else (Q(), self.keys)
        if self.live:
            return Q(deadline_at__isnull=False), self.keys
        # Ordered by deadline_at first although it is NULL in every row read: then only an
        # index holding the range "deadline_at IS NULL, by id" gives the order, and the
        # planner cannot pick an index by id that filters on deadline_at row by row.
        return Q(deadline_at__isnull=True), ("deadline_at", *self.keys)

    def holds(self, cursor: Cursor) -> bool:
        return self.live is None or self.live == (cursor.deadline is not None)

    def key(self, cursor: Cursor) -> tuple:
        return tuple(cursor.deadline if name == "deadline_at" else cursor.pk for name in self.keys)


#: Each sort as runs. The deadline sort is two: rows with a live deadline by (deadline, id),
#: then rows without one by id. Each run is then one range of an index, so a page starts
#: at its cursor in the index (a row-value comparison) on PostgreSQL and SQLite alike, and
#: no index needs NULLS LAST (SQLite's CREATE INDEX has none).
_RUNS = {
    "deadline": (_Run(("deadline_at", "pk"), live=True), _Run(("pk",), live=False)),
    "newest": (_Run(("pk",), descending=True),),
}


class _Row(Func):
    """A row value, ``(a, b)``: compared with another, it is one range of an index on (a, b)."""

    function = ""
    output_field = Field()


def _beyond(keys: tuple[str, ...], values: tuple, *, greater: bool):
    if len(keys) == 1:
        return Q(**{f"{keys[0]}__{'gt' if greater else 'lt'}": values[0]})
    lookup = GreaterThan if greater else LessThan
    return lookup(_Row(*(F(key) for key in keys)), _Row(*(Value(value) for value in values)))


def _list_rows(**filters) -> QuerySet[Application]:
    return Application.objects.filter(**filters).select_related(*_LIST_RELATED).only(*_LIST_FIELDS)


def _walk(applications: QuerySet[Application], *, sort: str, state: str, cursor: Cursor | None, limit: int):
    """Up to ``limit`` rows from ``cursor`` on (towards the start if ``cursor.before``), in walking order.

    One query per run it reaches (at most two); the cursor's own run starts at its key. The
    page's ids come from a subquery that reads only the index of the run (an index-only
    scan on PostgreSQL, which is also what makes the planner prefer that index to any
    other order it could filter), and the rows and their joins by those ids.

    A state filter is written as a range, ``state >= s AND state <= s``, with state leading
    the ORDER BY. An equality would make state a constant to the planner, so any index in
    the run's order (the primary key, say) would do, filtering for the state as it goes:
    with a search it may choose one, and states come in runs of age (old applications are
    decided), so that walk can cross most of the table. As a range only an index led by
    state gives the order; any other plan must sort every match, which the planner picks
    only when the matches are few.
    """
    runs = [(i, run, run.read(state)) for i, run in enumerate(_RUNS[sort])]
    runs = [(i, run, read) for i, run, read in runs if read is not None]
    at = next(i for i, run in enumerate(_RUNS[sort]) if run.holds(cursor)) if cursor is not None else 0
    backward = cursor is not None and cursor.before
    runs = [r for r in reversed(runs) if r[0] <= at] if backward else [r for r in runs if r[0] >= at]
    rows: list[Application] = []
    for i, run, (where, keys) in runs:
        if state:
            where &= Q(state__gte=state, state__lte=state)
            if state in LIVE_DEADLINES:  # what the partial indexes of live rows require
                where &= Q(state__in=list(LIVE_DEADLINES))
            keys = ("state", *keys)
        ascending = backward == run.descending
        order = [key if ascending else f"-{key}" for key in keys]
        ids = applications.filter(where)
        if cursor is not None and i == at:
            ids = ids.filter(_beyond(run.keys, run.key(cursor), greater=ascending))
        ids = ids.order_by(*order).values("pk")[: limit - len(rows)]
        rows += _list_rows(pk__in=ids).order_by(*order)
        if len(rows) >= limit:
            break
    return rows


class CandidateSearchText(Func):
    """A candidate's username and email upper-cased and joined by a space, as the trigram
    index of migration 0013 holds them (PostgreSQL): the planner uses an expression index
    only for the same expression."""

    template = "(UPPER(%(expressions)s::text))"
    arg_joiner = "::text) || ' ' || UPPER("
    output_field = TextField()

    def __init__(self):
        super().__init__(F("username"), F("email"))


def _matching(applications: QuerySet[Application], *, user, query: str) -> QuerySet[Application]:
    """Applications whose candidate's username or email, or course's name, contains ``query``, or course code is it.

    Support and providers: the matching candidates and courses are found first (trigram
    indexes on PostgreSQL), at most SEARCH_MAX_* of each, and the applications are then
    read by candidate_id or course_id in the list's own order. A candidate's own list is a
    handful of rows, filtered directly.
    """
    provider_id = _provider_id(user)
    if not is_support(user) and provider_id is None:
        return applications.filter(
            Q(candidate__username__icontains=query)
            | Q(candidate__email__icontains=query)
            | Q(course__name__icontains=query)
            | Q(course__code__iexact=query)
        )
    by_course = Q(name__icontains=query) | Q(code__iexact=query)
    candidates = get_user_model().objects.order_by()
    if connection.vendor == "postgresql" and not any(character.isspace() for character in query):
        # One trigram index over both columns (migration 0013); the space that joins them
        # cannot be part of a term without spaces.
        candidates = candidates.annotate(search=CandidateSearchText()).filter(search__contains=Upper(Value(query)))
    else:
        candidates = candidates.filter(Q(username__icontains=query) | Q(email__icontains=query))
    courses = Course.objects.filter(by_course)
    if provider_id is not None:
        courses = courses.filter(provider_id=provider_id)
    course_ids = list(courses.order_by().values_list("pk", flat=True)[: SEARCH_MAX_COURSES + 1])
    if len(course_ids) > SEARCH_MAX_COURSES:
        raise SearchTooBroad(
            f"“{query}” matches more than {SEARCH_MAX_COURSES} courses. "
            "Search for more of the course name, or for its code."
        )
    candidate_ids = list(candidates.values_list("pk", flat=True)[: SEARCH_MAX_CANDIDATES + 1])
    if len(candidate_ids) > SEARCH_MAX_CANDIDATES:
        raise SearchTooBroad(
            f"“{query}” matches more than {SEARCH_MAX_CANDIDATES:,} candidates. "
            "Search for more of the name or email address."
        )
    return applications.filter(Q(candidate_id__in=candidate_ids) | Q(course_id__in=course_ids))


@dataclass(frozen=True)
class ApplicationPage:
    """One page of a list: its rows, how many match (counted up to COUNT_LIMIT + 1), and where to go next."""

    applications: list[Application]
    count: int
    count_limit: int
    next: Cursor | None
    previous: Cursor | None

    @property
    def count_is_exact(self) -> bool:
        return self.count <= self.count_limit


def application_list(
    *, user, state: str = "", query: str = "", sort: str = "deadline", cursor: Cursor | None = None, size: int = 25
) -> ApplicationPage:
    """A page of the applications ``user`` may see, filtered by ``state`` and ``query``, in ``sort`` order.

    Keyset paging: the page starts just after ``cursor`` (or ends just before it) and the
    next and previous cursors come from its first and last rows. Raises SearchTooBroad.
    """
    if sort not in SORTS or (cursor is not None and cursor.sort != sort):
        raise ValueError(f"unknown sort {sort!r} or a cursor of another sort")
    applications = applications_visible_to(user)
    if query:
        applications = _matching(applications, user=user, query=query)
    in_state = applications.filter(state=state) if state else applications
    count = in_state.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    rows = _walk(applications, sort=sort, state=state, cursor=cursor, limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    if cursor is not None and cursor.before:
        if not more and len(rows) < size:
            # Rows came or went since the link was made, and the first page came out short:
            # show the real first page.
            return application_list(user=user, state=state, query=query, sort=sort, size=size)
        rows.reverse()
        has_previous, has_next = more, True
    else:
        has_previous, has_next = cursor is not None, more
    return ApplicationPage(
        applications=rows,
        count=count,
        count_limit=COUNT_LIMIT,
        next=Cursor.at_row(sort, rows[-1]) if has_next and rows else None,
        previous=Cursor.at_row(sort, rows[0], before=True) if has_previous and rows else None,
    )


#: A candidate's list, in this order: what needs their action (an offer to answer, a draft to
#: submit), then what is still open, then what is closed.
CANDIDATE_ACTION_STATES = (ApplicationState.OFFER, ApplicationState.UNSUBMITTED)
CANDIDATE_OPEN_STATES = (*AWAITING_DECISION_STATES, ApplicationState.ACCEPTED)
#: A candidate has a handful of applications (a few choices a cycle); the list shows them all up to this.
CANDIDATE_LIST_LIMIT = 100


def candidate_applications(*, user, limit: int = CANDIDATE_LIST_LIMIT) -> list[Application]:
    """The candidate's own applications, those needing their action first (soonest deadline
    first), then the open ones, then the closed ones, newest first within each."""
    group = Case(
        When(state__in=CANDIDATE_ACTION_STATES, then=Value(0)),
        When(state__in=CANDIDATE_OPEN_STATES, then=Value(1)),
        default=Value(2),
    )
    ids = (
        applications_visible_to(user).filter(candidate=user).annotate(group=group)
        .order_by("group", F("deadline_at").asc(nulls_last=True), "-pk").values_list("pk", flat=True)[:limit]
    )
    order = {pk: n for n, pk in enumerate(ids)}
    return sorted(_list_rows(pk__in=list(order)), key=lambda application: order[application.pk])


def decisions_due(*, user, limit: int = 10) -> list[Application]:
    """The applications waiting on a provider's decision that ``user`` may see, soonest deadline first.

    A provider's first page. One range of the live-deadline index per awaiting state (the same
    range-on-state form as ``_walk``), at most ``limit`` ids each, merged: whatever the table
    holds, at most ``limit`` rows read per state. On PostgreSQL the ranges are one query (a
    UNION ALL of the ranges as the subquery of ids); SQLite allows no LIMIT inside a UNION,
    so there it is one query per state.
    """
    visible = applications_visible_to(user)
    ranges = [
        visible.filter(state__gte=state, state__lte=state, state__in=list(LIVE_DEADLINES), deadline_at__isnull=False)
        .order_by("state", "deadline_at", "pk")
        .values("pk")[:limit]
        for state in AWAITING_DECISION_STATES
    ]
    if connection.features.supports_slicing_ordering_in_compound:
        return list(_list_rows(pk__in=ranges[0].union(*ranges[1:], all=True)).order_by("deadline_at", "pk")[:limit])
    rows: list[Application] = []
    for ids in ranges:
        rows += _list_rows(pk__in=ids)
    return sorted(rows, key=lambda row: (row.deadline_at, row.pk))[:limit]


# --- Countdowns: the time left to each deadline, in working days ---------------------------


@dataclass(frozen=True)
class Countdown:
    deadline: datetime | None
    working_days: int | None
    passed: bool
    #: The time left (deadline minus now), when the countdown was made at a known instant.
    left: timedelta | None = None

    @property
    def hours_and_minutes_left(self) -> str:
        """On the last day, what is left in hours and minutes, e.g. "3 hours 5 minutes"; "" otherwise."""
        if self.left is None or self.passed or self.working_days != 0 or self.left >= timedelta(days=1):
            return ""
        minutes = int(self.left.total_seconds() // 60)
        if minutes < 1:
            return "less than a minute"
        hours, minutes = divmod(minutes, 60)
        parts = [f"{hours} hour{'' if hours == 1 else 's'}"] if hours else []
        if minutes or not hours:
            parts.append(f"{minutes} minute{'' if minutes == 1 else 's'}")
        return " ".join(parts)

    @property
    def deadline_text(self) -> str:
        """The deadline in London time, e.g. "30 Nov 2026 23:59 GMT" (strftime: many rows per page)."""
        moment = timezone.localtime(self.deadline, LONDON)
        return f"{moment.day} {moment:%b %Y %H:%M} {moment.tzname()}"

    @property
    def deadline_words(self) -> str:
        """The deadline in a sentence, e.g. "Monday 30 November 2026 at 23:59 GMT"."""
        if self.deadline is None:
            return ""
        moment = timezone.localtime(self.deadline, LONDON)
        return f"{moment:%A} {moment.day} {moment:%B %Y} at {moment:%H:%M} {moment.tzname()}"

    @property
    def label(self) -> str:
        """What the list and the application page say about the time left."""
        if self.deadline is None:
            return "–"
        if self.passed:
            return "Deadline passed"
        if self.working_days == 0:
            left = self.hours_and_minutes_left
            return f"Last day: {left} left" if left else "Last day"
        return f"{self.working_days} working day{'' if self.working_days == 1 else 's'}"

    @property
    def urgency(self) -> str:
        """"passed", "urgent" (the last day), "soon" (two working days or fewer) or ""."""
        if self.deadline is None:
            return ""
        if self.passed:
            return "passed"
        if self.working_days == 0:
            return "urgent"
        return "soon" if self.working_days <= 2 else ""


class Countdowns:
    """Working days left per application, with one calendar per cycle for the whole request."""

    def __init__(self, *, now: datetime):
        self.now = now
        self._calendars = {}

    def load(self, applications) -> None:
        """Read the calendars of every cycle of ``applications`` in one query (a list page's rows)."""
        missing = {application.cycle_id for application in applications} - self._calendars.keys()
        if missing:
            self._calendars.update(calendars_for_cycle_ids(missing))

    def calendar(self, application: Application):
        """The application's cycle's calendar, read once per cycle for the whole request."""
        if application.cycle_id not in self._calendars:
            self.load([application])
        return self._calendars[application.cycle_id]

    def __call__(self, application: Application) -> Countdown:
        deadline = application.deadline_at
        if deadline is None:
            return Countdown(deadline=None, working_days=None, passed=False)
        days = working_days_left(now=self.now, deadline=deadline, calendar=self.calendar(application))
        return Countdown(deadline=deadline, working_days=days, passed=deadline <= self.now, left=deadline - self.now)
