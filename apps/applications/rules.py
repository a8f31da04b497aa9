"""The timed state machine, declared once: the states, who may move an application between
them, which deadline each state carries, what the clock does when a deadline passes, when
a reminder is due, and how many working days each rule allows.

Everything else reads this module instead of restating a state list: services enforce it
(``services.py``, ``chasers.py``, ``cycles.py``), selectors select by it, the views decide
which buttons to show from it, reports and invariants count by it, and the demo data is
built from it. Change a rule here and every one of them follows.

It imports nothing from the app's models: ``models.py`` reads ``LIVE_DEADLINES`` for the
generated ``deadline_at`` column and the partial indexes, so the database and the code
agree on which states carry which deadline.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models

from apps.applications.working_days import (
    WorkingDayCalendar,
    decline_by_default_at,
    end_of_london_day,
    london_date,
    reject_by_default_at,
)


class ApplicationState(models.TextChoices):
    UNSUBMITTED = "unsubmitted", "Not submitted"
    AWAITING_PROVIDER_DECISION = "awaiting_provider_decision", "Awaiting decision"
    INTERVIEWING = "interviewing", "Interviewing"
    OFFER = "offer", "Offer made"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    ACCEPTED = "accepted", "Offer accepted"
    DECLINED = "declined", "Offer declined"
    OFFER_WITHDRAWN = "offer_withdrawn", "Offer withdrawn"
    RECRUITED = "recruited", "Recruited"
    CONDITIONS_NOT_MET = "conditions_not_met", "Conditions not met"
    APPLICATION_NOT_SENT = "application_not_sent", "Not sent"


S = ApplicationState


# --- Working days ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingDays:
    """How many working days a rule allows: the rule's default below, unless a setting overrides it.

    ``count`` is the one place the override is read (``config/settings.py`` sets it from the
    environment variable of the same name, None when unset; tests set it directly). It is
    read each time a rule is applied, never copied at import.
    """

    setting: str
    default: int

    @property
    def count(self) -> int:
        override = getattr(settings, self.setting, None)
        return self.default if override is None else override


#: A provider has this many working days to decide before the application is rejected by default.
RBD_WORKING_DAYS = WorkingDays("APPLY_RBD_WORKING_DAYS", 20)
#: A candidate has this many working days to answer an offer before it is declined by default.
DBD_WORKING_DAYS = WorkingDays("APPLY_DBD_WORKING_DAYS", 10)
#: The provider is chased once when the reject-by-default deadline is this close.
PROVIDER_CHASER_WORKING_DAYS = WorkingDays("APPLY_PROVIDER_CHASER_WORKING_DAYS", 10)
#: The candidate is chased once when the decline-by-default deadline is this close.
CANDIDATE_CHASER_WORKING_DAYS = WorkingDays("APPLY_CANDIDATE_CHASER_WORKING_DAYS", 5)


# --- Deadlines: which states carry which one ------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A deadline an application carries while it is in one of ``states``.

    It is counted from ``starts_field`` (set by the transition into the first of them) and
    kept in ``field``. While it is live only the by-default rule may act after it passes.
    """

    field: str
    states: tuple[str, ...]
    starts_field: str
    working_days: WorkingDays
    #: Never after the cycle's ``reject_by_default_date``.
    capped: bool = False

    def at(self, *, start: datetime, calendar: WorkingDayCalendar, cap: datetime | None = None) -> datetime:
        """The deadline for an application whose clock started at ``start``, by the cycle's calendar."""
        if self.capped:
            return reject_by_default_at(
                submitted_at=start, calendar=calendar, working_days=self.working_days.count, cap=cap
            )
        return decline_by_default_at(offered_at=start, calendar=calendar, working_days=self.working_days.count)


#: The provider decides before this, while the application awaits a decision.
RBD_DEADLINE = Deadline(
    field="reject_by_default_at",
    states=(S.AWAITING_PROVIDER_DECISION, S.INTERVIEWING),
    starts_field="submitted_at",
    working_days=RBD_WORKING_DAYS,
    capped=True,
)
#: The candidate answers an offer before this.
DBD_DEADLINE = Deadline(
    field="decline_by_default_at", states=(S.OFFER,), starts_field="offered_at", working_days=DBD_WORKING_DAYS
)
DEADLINES = (RBD_DEADLINE, DBD_DEADLINE)

#: States with a live deadline, and the field that holds it. The generated ``deadline_at``
#: column and the partial indexes are built from this (so its order is the migration's).
LIVE_DEADLINES = {state: deadline.field for deadline in DEADLINES for state in deadline.states}
#: The deadline each live state carries.
DEADLINE_OF_STATE = {state: deadline for deadline in DEADLINES for state in deadline.states}
#: States in which the provider must decide before reject_by_default_at.
AWAITING_DECISION_STATES = RBD_DEADLINE.states


# --- Transitions people make ----------------------------------------------------------

#: Who may take a transition: the candidate who owns the application, or the provider side
#: (the course's provider's users, and support users acting for them).
CANDIDATE = "candidate"
PROVIDER = "provider"


@dataclass(frozen=True)
class Transition:
    """A move an actor makes; the service refuses it from any other state, or once the
    state's live deadline has passed (then the application belongs to the by-default rule)."""

    name: str
    from_states: tuple[str, ...]
    to_state: str
    by: str


SUBMIT = Transition("submit", (S.UNSUBMITTED,), S.AWAITING_PROVIDER_DECISION, CANDIDATE)
WITHDRAW = Transition("withdraw", AWAITING_DECISION_STATES, S.WITHDRAWN, CANDIDATE)
ACCEPT_OFFER = Transition("accept_offer", (S.OFFER,), S.ACCEPTED, CANDIDATE)
DECLINE_OFFER = Transition("decline_offer", (S.OFFER,), S.DECLINED, CANDIDATE)
INTERVIEW = Transition("interview", (S.AWAITING_PROVIDER_DECISION,), S.INTERVIEWING, PROVIDER)
MAKE_OFFER = Transition("make_offer", AWAITING_DECISION_STATES, S.OFFER, PROVIDER)
REJECT = Transition("reject", AWAITING_DECISION_STATES, S.REJECTED, PROVIDER)
WITHDRAW_OFFER = Transition("withdraw_offer", (S.OFFER,), S.OFFER_WITHDRAWN, PROVIDER)
CONFIRM_RECRUITED = Transition("confirm_recruited", (S.ACCEPTED,), S.RECRUITED, PROVIDER)
CONDITIONS_NOT_MET = Transition("conditions_not_met", (S.ACCEPTED,), S.CONDITIONS_NOT_MET, PROVIDER)

#: Every actor transition by name (the name is also the timeline event's kind).
TRANSITIONS = {
    transition.name: transition
    for transition in (
        SUBMIT,
        WITHDRAW,
        ACCEPT_OFFER,
        DECLINE_OFFER,
        INTERVIEW,
        MAKE_OFFER,
        REJECT,
        WITHDRAW_OFFER,
        CONFIRM_RECRUITED,
        CONDITIONS_NOT_MET,
    )
}


# --- Timed rules: what the clock does once a deadline has passed ----------------------


@dataclass(frozen=True)
class TimedRule:
    """A transition the clock makes once a live deadline has passed (reject or decline by default).

    It applies in exactly the states that carry its deadline, so at the deadline the
    application passes from the actors to the rule with no gap and no overlap.
    """

    kind: str
    deadline: Deadline
    to_state: str
    flag_field: str
    emails: tuple[tuple[str, str, str], ...]  # (key prefix, recipient: provider|candidate, template)
    #: Recipients whose email waits: the candidate hears a minute after the provider (a
    #: delayed one-off job; the outbox row's available_at holds it back from the sweep too).
    delayed: tuple[str, ...] = ()

    @property
    def from_states(self) -> tuple[str, ...]:
        return self.deadline.states

    @property
    def deadline_field(self) -> str:
        return self.deadline.field


REJECT_BY_DEFAULT = TimedRule(
    kind="reject_by_default",
    deadline=RBD_DEADLINE,
    to_state=S.REJECTED,
    flag_field="rejected_by_default",
    emails=(
        ("rbd:provider", "provider", "rejected_by_default_provider"),
        ("rbd:candidate", "candidate", "rejected_by_default_candidate"),
    ),
    delayed=("candidate",),
)
DECLINE_BY_DEFAULT = TimedRule(
    kind="decline_by_default",
    deadline=DBD_DEADLINE,
    to_state=S.DECLINED,
    flag_field="declined_by_default",
    emails=(
        ("dbd:provider", "provider", "declined_by_default_provider"),
        ("dbd:candidate", "candidate", "declined_by_default_candidate"),
    ),
)
TIMED_RULES = (REJECT_BY_DEFAULT, DECLINE_BY_DEFAULT)


@dataclass(frozen=True)
class CycleCloseRule:
    """Once a cycle's apply deadline has passed, what was never submitted is not sent."""

    kind: str
    from_state: str
    to_state: str


CLOSE_CYCLE = CycleCloseRule(kind="application_not_sent", from_state=S.UNSUBMITTED, to_state=S.APPLICATION_NOT_SENT)


# --- Chasers: one reminder before a deadline ------------------------------------------


class ChaserKind(models.TextChoices):
    PROVIDER = "provider", "Provider chaser"
    CANDIDATE = "candidate", "Candidate chaser"


@dataclass(frozen=True)
class ChaserRule:
    """Chase ``recipient`` once while the application carries ``deadline`` and it is within
    ``working_days`` working days."""

    kind: str
    deadline: Deadline
    working_days: WorkingDays
    recipient: str  # provider | candidate
    template: str
    sent_field: str  # Application's flag, set with the ChaserSent row

    @property
    def states(self) -> tuple[str, ...]:
        return self.deadline.states

    @property
    def deadline_field(self) -> str:
        return self.deadline.field

    def window_end(self, *, calendar: WorkingDayCalendar, now: datetime) -> datetime:
        """The latest deadline inside the window: the end of the Nth working day after today (London)."""
        return end_of_london_day(calendar.add_working_days(london_date(now), self.working_days.count))


CHASER_RULES = {
    ChaserKind.PROVIDER: ChaserRule(
        kind=ChaserKind.PROVIDER,
        deadline=RBD_DEADLINE,
        working_days=PROVIDER_CHASER_WORKING_DAYS,
        recipient="provider",
        template="chaser_provider",
        sent_field="provider_chaser_sent",
    ),
    ChaserKind.CANDIDATE: ChaserRule(
        kind=ChaserKind.CANDIDATE,
        deadline=DBD_DEADLINE,
        working_days=CANDIDATE_CHASER_WORKING_DAYS,
        recipient="candidate",
        template="chaser_candidate",
        sent_field="candidate_chaser_sent",
    ),
}


def chaser_rule(kind: str) -> ChaserRule:
    try:
        return CHASER_RULES[kind]
    except KeyError:
        raise ValueError(f"unknown chaser kind {kind!r}; expected one of {', '.join(CHASER_RULES)}") from None
