"""What the pages say about an application, in words for the person reading them.

Candidates and providers see plain words: no internal state names, job paths or ids
(those are for support, who see them too). The state tag's colour follows its meaning and
always comes with its words. The rules themselves (which states carry which deadline,
who may act) live in models, services and the views' ACTIONS; this only words them.
"""

from dataclasses import dataclass

from apps.applications.auth import is_support
from apps.applications.models import Application, ApplicationState

S = ApplicationState
CANDIDATE, PROVIDER, SUPPORT = "candidate", "provider", "support"


def role_of(user) -> str:
    if is_support(user):
        return SUPPORT
    if getattr(user, "provider_user", None) is not None:
        return PROVIDER
    return CANDIDATE


@dataclass(frozen=True)
class Tag:
    text: str
    colour: str

    @property
    def css(self) -> str:
        return f"tag tag--{self.colour}"


#: The tag of each state: its words and a colour by meaning (blue: waiting on the provider,
#: purple: interviewing, turquoise: an offer open, green: a place, red: refused, orange:
#: the offer turned down, pink: closed by a deadline, grey: closed or not started).
_TAGS = {
    S.UNSUBMITTED: Tag(S.UNSUBMITTED.label, "grey"),
    S.AWAITING_PROVIDER_DECISION: Tag(S.AWAITING_PROVIDER_DECISION.label, "blue"),
    S.INTERVIEWING: Tag(S.INTERVIEWING.label, "purple"),
    S.OFFER: Tag(S.OFFER.label, "turquoise"),
    S.ACCEPTED: Tag(S.ACCEPTED.label, "green"),
    S.RECRUITED: Tag(S.RECRUITED.label, "green"),
    S.REJECTED: Tag(S.REJECTED.label, "red"),
    S.CONDITIONS_NOT_MET: Tag(S.CONDITIONS_NOT_MET.label, "red"),
    S.DECLINED: Tag(S.DECLINED.label, "orange"),
    S.WITHDRAWN: Tag(S.WITHDRAWN.label, "grey"),
    S.OFFER_WITHDRAWN: Tag(S.OFFER_WITHDRAWN.label, "grey"),
    S.APPLICATION_NOT_SENT: Tag(S.APPLICATION_NOT_SENT.label, "grey"),
}


def state_tag(application: Application) -> Tag:
    if application.state == S.REJECTED and application.rejected_by_default:
        return Tag("Rejected by default", "pink")
    if application.state == S.DECLINED and application.declined_by_default:
        return Tag("Declined by default", "pink")
    return _TAGS.get(application.state, Tag(application.get_state_display(), "grey"))


def state_tag_for(state: str) -> Tag:
    """The tag of a bare state value (the filter, the timeline)."""
    return _TAGS.get(state, Tag(state, "grey"))


# What the application's state means to each role, and what happens next. {deadline} is
# the live deadline in words ("Monday 30 November 2026 at 23:59 GMT").
_CANDIDATE = {
    S.UNSUBMITTED: "You have not submitted this application yet. The provider sees it once you submit it.",
    S.AWAITING_PROVIDER_DECISION: "The provider is considering your application. They have until {deadline} to "
    "decide. If they have not decided by then, the application is closed (rejected by default) and you are emailed.",
    S.INTERVIEWING: "The provider has invited you to interview. They have until {deadline} to decide. If they have "
    "not decided by then, the application is closed (rejected by default) and you are emailed.",
    S.OFFER: "You have an offer. Accept or decline it by {deadline}. If you have not answered by then, the offer is "
    "declined for you (declined by default).",
    S.ACCEPTED: "You accepted the offer. The provider will confirm your place once you meet its conditions.",
    S.RECRUITED: "You have a place on this course.",
    S.REJECTED: "The provider did not offer you a place on this course.",
    S.CONDITIONS_NOT_MET: "The provider says the conditions of your offer were not met, so you do not have a place.",
    S.DECLINED: "You declined the offer.",
    S.WITHDRAWN: "You withdrew this application.",
    S.OFFER_WITHDRAWN: "The provider withdrew their offer.",
    S.APPLICATION_NOT_SENT: "The recruitment cycle closed before this application was submitted, so it was not sent.",
}
_PROVIDER = {
    S.UNSUBMITTED: "The candidate has not submitted this application yet.",
    S.AWAITING_PROVIDER_DECISION: "A decision is due by {deadline}: invite the candidate to interview, make an offer "
    "or reject. If there is no decision by then, the application is rejected by default.",
    S.INTERVIEWING: "Interviewing. A decision is due by {deadline}: make an offer or reject. If there is no "
    "decision by then, the application is rejected by default.",
    S.OFFER: "Offer made. The candidate has until {deadline} to accept or decline. If they have not answered by "
    "then, the offer is declined by default.",
    S.ACCEPTED: "The candidate accepted the offer. Confirm they are recruited once they meet the conditions, or "
    "mark the conditions not met.",
    S.RECRUITED: "The candidate is recruited to this course.",
    S.REJECTED: "The application was rejected.",
    S.CONDITIONS_NOT_MET: "The offer's conditions were not met.",
    S.DECLINED: "The candidate declined the offer.",
    S.WITHDRAWN: "The candidate withdrew the application.",
    S.OFFER_WITHDRAWN: "The offer was withdrawn.",
    S.APPLICATION_NOT_SENT: "The cycle closed before the candidate submitted this application.",
}
_BY_DEFAULT = {
    (CANDIDATE, S.REJECTED): "The provider did not decide by the deadline, so the application was closed "
    "(rejected by default).",
    (CANDIDATE, S.DECLINED): "The offer was not answered by the deadline, so it was declined for you "
    "(declined by default).",
    (PROVIDER, S.REJECTED): "Rejected by default: there was no decision by the deadline.",
    (PROVIDER, S.DECLINED): "Declined by default: the candidate did not answer the offer by the deadline.",
}


def state_description(application: Application, *, role: str, deadline_words: str = "") -> str:
    side = CANDIDATE if role == CANDIDATE else PROVIDER
    by_default = (application.state == S.REJECTED and application.rejected_by_default) or (
        application.state == S.DECLINED and application.declined_by_default
    )
    if by_default:
        return _BY_DEFAULT[(side, application.state)]
    words = (_CANDIDATE if side == CANDIDATE else _PROVIDER).get(application.state, "")
    return words.format(deadline=deadline_words or "the deadline")


def expired_description(application: Application, *, role: str) -> str:
    """An application past its live deadline, before the sweep records it (a minute or two at most)."""
    if application.state == S.OFFER:
        if role == CANDIDATE:
            return "The deadline to answer has passed: the offer is declined by default. It can no longer be answered."
        return "The deadline for the candidate to answer has passed: the offer is declined by default. No one can act on it now."
    if role == CANDIDATE:
        return "The provider's deadline to decide has passed, so the application is rejected by default."
    return "The deadline for a decision has passed: the application is rejected by default. No one can act on it now."


#: The candidate's next step on each state (their list shows it on every application).
_CANDIDATE_NEXT = {
    S.UNSUBMITTED: "Submit your application.",
    S.AWAITING_PROVIDER_DECISION: "Nothing to do: wait for the provider's decision.",
    S.INTERVIEWING: "Get ready for your interview; the provider will be in touch.",
    S.OFFER: "Accept or decline the offer by {deadline}.",
    S.ACCEPTED: "Meet the conditions of your offer; the provider will confirm your place.",
}


def candidate_next_step(application: Application, *, deadline_words: str = "") -> str:
    words = _CANDIDATE_NEXT.get(application.state, "Nothing to do: this application is closed.")
    return words.format(deadline=deadline_words or "the deadline")


# --- The timeline -------------------------------------------------------------------

_EVENTS = {
    "submit": "Application submitted",
    "withdraw": "Application withdrawn",
    "accept_offer": "Offer accepted",
    "decline_offer": "Offer declined",
    "interview": "Invited to interview",
    "make_offer": "Offer made",
    "reject": "Application rejected",
    "withdraw_offer": "Offer withdrawn",
    "confirm_recruited": "Candidate recruited",
    "conditions_not_met": "Conditions not met",
    "reject_by_default": "Rejected by default: no decision by the deadline",
    "decline_by_default": "Declined by default: the offer was not answered by the deadline",
    "application_not_sent": "Not sent: the cycle closed before it was submitted",
    "deadline_recalculated": "Deadline changed (the cycle's non-working days changed)",
    "provider_chaser_sent": "Reminder sent to the provider: the decision deadline is near",
    "candidate_chaser_sent": "Reminder sent to the candidate: the offer deadline is near",
    "demo_deadline_moved": "Deadline moved (demonstration data)",
}

#: Event detail keys, for people.
_DETAIL_KEYS = {
    "reject_by_default_at": "Decision deadline",
    "decline_by_default_at": "Offer deadline",
    "deadline": "Deadline",
    "old": "Was",
    "new": "Now",
    "why": "Why",
}
_DETAIL_VALUES = {"reject_by_default_at": "Decision deadline", "decline_by_default_at": "Offer deadline"}


def event_title(kind: str) -> str:
    return _EVENTS.get(kind, kind.replace("_", " ").capitalize())


def detail_key(key: str) -> str:
    return _DETAIL_KEYS.get(key, key.replace("_", " ").capitalize())


def detail_value(value):
    return _DETAIL_VALUES.get(value, value) if isinstance(value, str) else value


def event_actor(event, *, role: str, viewer) -> str:
    """Who did it. Support sees the job and its id; everyone else "the service (automatically)" (or "you")."""
    if event.actor_job_name:
        if role == SUPPORT:
            return f"job {event.actor_job_name} ({event.actor_job_id})"
        return "the service (automatically)"
    if event.actor_user_id:
        if event.actor_user_id == getattr(viewer, "pk", None):
            return "you"
        if role == CANDIDATE:
            return "the provider"
        return str(event.actor_user)
    return "the service" if role != SUPPORT else "system"


#: The timed rules as the Schedule page names them (clock.py's entry titles; a test keeps
#: them the same), for Health's tables and verdict: one name per rule on every page.
RULE_TITLES = {
    "reject_by_default": "Reject applications by default",
    "decline_by_default": "Decline offers by default",
    "close_cycle": "Close cycle",
}


def rule_title(kind: str) -> str:
    return RULE_TITLES.get(kind, kind.replace("_", " ").capitalize())
