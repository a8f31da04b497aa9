"""Web adapter for applications: the list, one application, and the actions each role may take.

Reads go through selectors and writes through services. Which states an action may be
taken from and by whom are the transition's (``rules.py``), the same declaration the
service enforces: ``Action`` below only adds the button's words, and a stale button still
ends in the service's domain error, shown to the user.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods, require_safe

from apps.applications import selectors, services
from apps.applications.actors import Actor
from apps.applications.auth import is_support
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import DomainError, TransitionNotAllowed
from apps.applications.forms import ApplicationFilterForm
from apps.applications.models import Application
from apps.applications.templatetags.apply_ui import countdown_tag
from apps.applications.rules import (
    ACCEPT_OFFER,
    CANDIDATE,
    CONDITIONS_NOT_MET,
    CONFIRM_RECRUITED,
    DBD_DEADLINE,
    DECLINE_OFFER,
    INTERVIEW,
    MAKE_OFFER,
    REJECT,
    SUBMIT,
    WITHDRAW,
    WITHDRAW_OFFER,
    Transition,
)
from apps.applications.selectors import (
    ApplicationPage,
    Countdown,
    Countdowns,
    SearchTooBroad,
    applications_visible_to,
    decisions_due,
)
from apps.applications.wording import CANDIDATE as CANDIDATE_ROLE
from apps.applications.wording import PROVIDER as PROVIDER_ROLE
from apps.applications.wording import SUPPORT as SUPPORT_ROLE
from apps.applications.wording import (
    Tag,
    candidate_next_step,
    detail_key,
    detail_value,
    event_actor,
    event_title,
    expired_description,
    role_of,
    state_description,
    state_tag,
    state_tag_for,
)
from apps.applications.working_days import LONDON

PAGE_SIZE = 25
#: A provider's first page lists this many of the decisions due, soonest first.
DECISIONS_DUE_SHOWN = 10
#: How often the application page refreshes its status (seconds).
LIVE_REFRESH_SECONDS = 5


@dataclass(frozen=True)
class Action:
    """A button on the application page for a ``transition`` (its name, from-states and side).
    ``binding``: asks for confirmation first (binding commitments such as an offer, and
    everything that cannot be undone). ``then``: what happens next, said on success
    ({deadline}: the application's live deadline after it)."""

    transition: Transition
    label: str
    done: str
    service: Callable[..., Application]
    destructive: bool = False
    takes_now: bool = False
    binding: bool = False
    then: str = ""
    warning: str = ""

    @property
    def confirm(self) -> bool:
        return self.binding or self.destructive

    @property
    def name(self) -> str:
        return self.transition.name

    @property
    def by(self) -> str:
        return self.transition.by

    @property
    def allowed_from(self) -> tuple[str, ...]:
        return self.transition.from_states


def _actions(*actions: Action) -> dict[str, Action]:
    return {action.name: action for action in actions}


ACTIONS = _actions(
    # The candidate's own actions.
    Action(
        transition=SUBMIT, label="Submit application", done="Application submitted",
        service=services.application_submit, takes_now=True,
        then="The provider has been emailed. They have until {deadline} to decide.",
    ),
    Action(
        transition=WITHDRAW, label="Withdraw application", done="Application withdrawn",
        service=services.application_withdraw, destructive=True,
        then="The provider will not consider it any further.",
        warning="The provider stops considering your application.",
    ),
    Action(
        transition=ACCEPT_OFFER, label="Accept offer", done="Offer accepted",
        service=services.application_accept_offer, binding=True,
        then="The provider will confirm your place once you meet the offer's conditions.",
        warning="Accepting is a commitment to this course: the provider will hold the place for you.",
    ),
    Action(
        transition=DECLINE_OFFER, label="Decline offer", done="Offer declined",
        service=services.application_decline_offer, destructive=True,
        then="The provider has been told.",
        warning="The offer ends and the place goes to someone else.",
    ),
    # The provider's decisions (support users may take them too).
    Action(
        transition=INTERVIEW, label="Invite to interview", done="Candidate invited to interview",
        service=services.application_interview,
        then="The decision is still due by {deadline}: make an offer or reject by then.",
    ),
    Action(
        transition=MAKE_OFFER, label="Make offer", done="Offer made",
        service=services.application_make_offer, takes_now=True,
        binding=True,
        then="The candidate has been emailed. They have until {deadline} to accept or decline; "
        "if they do not answer by then, the offer is declined by default.",
        warning="An offer is binding: the candidate may accept it, and you must then hold the place.",
    ),
    Action(
        transition=REJECT, label="Reject application", done="Application rejected",
        service=services.application_reject, destructive=True,
        then="The candidate will see the decision on their application.",
        warning="The candidate is told they do not have a place.",
    ),
    Action(
        transition=WITHDRAW_OFFER, label="Withdraw offer", done="Offer withdrawn",
        service=services.application_withdraw_offer, destructive=True,
        then="The candidate will see that the offer was withdrawn.",
        warning="The candidate can no longer accept the offer.",
    ),
    Action(
        transition=CONFIRM_RECRUITED, label="Confirm recruited", done="Candidate recruited",
        service=services.application_confirm_recruited, binding=True,
        then="Nothing more is needed on this application.",
        warning="This confirms the candidate's place on the course.",
    ),
    Action(
        transition=CONDITIONS_NOT_MET, label="Conditions not met", done="Marked as conditions not met",
        service=services.application_conditions_not_met, destructive=True,
        then="The candidate will see that they do not have a place.",
        warning="The candidate loses the place they accepted.",
    ),
)


def _may(user, application: Application, action: Action) -> bool:
    if action.by == CANDIDATE:
        return application.candidate_id == user.pk
    if is_support(user):
        return True
    provider_user = getattr(user, "provider_user", None)
    return provider_user is not None and provider_user.provider_id == application.course.provider_id


def _refusal(application: Application, action: Action) -> str:
    if action.by == CANDIDATE:
        return f"“{action.label}” is only for the candidate who made application {application.pk}."
    return f"“{action.label}” is only for users of {application.course.provider} and support."


@dataclass(frozen=True, slots=True)
class ListRow:
    """One row of a list table with its values ready to print. A list page shows 25 of them,
    and every lookup, filter, ``{% url %}`` or included template a row makes is paid 25 times."""

    pk: int
    url: str
    candidate: str
    course: str
    provider: str
    tag: Tag
    deadline_iso: str
    deadline_text: str
    time_left: SafeString


#: A number no other part of the application page's URL holds: reversed once, it is replaced by
#: each row's id (``reverse`` per row cost more than the rest of the row).
_URL_PK = 9876543210


def _list_row(application: Application, countdown: Countdown, *, detail_url: str) -> ListRow:
    course = application.course
    deadline = countdown.deadline
    return ListRow(
        pk=application.pk,
        url=detail_url.replace(str(_URL_PK), str(application.pk)),
        candidate=application.candidate.get_username(),
        course=f"{course.name} ({course.code})",
        provider=course.provider.name,
        tag=state_tag(application),
        deadline_iso=deadline.isoformat() if deadline else "",
        deadline_text=countdown.deadline_text if deadline else "",
        time_left=countdown_tag(countdown),
    )


def _list_rows(rows) -> list[ListRow]:
    """``ListRow``s of (application, countdown) pairs."""
    detail_url = reverse("applications:detail", args=[_URL_PK])
    return [_list_row(application, countdown, detail_url=detail_url) for application, countdown in rows]


def _count_label(page: ApplicationPage) -> str:
    if not page.count_is_exact:
        return f"More than {page.count_limit:,} applications"
    return f"{page.count:,} application{'' if page.count == 1 else 's'}"


def is_first_page(request) -> bool:
    """The list with no filter, sort or page asked for: each role's first page, which also shows what is due or wrong."""
    match = request.resolver_match
    return match is not None and match.view_name == "applications:list" and not request.GET


def _first_page_extras(request, role: str, countdown: Countdowns) -> dict:
    """Each role's first page: a provider's decisions due, soonest first. (A candidate's list is
    their applications with the next step on each.) What needs support's attention is
    monitoring's verdict, and monitoring sits above this app: its context processor adds it
    (``apps.monitoring.context_processors``)."""
    if role == PROVIDER_ROLE:
        due = decisions_due(user=request.user, limit=DECISIONS_DUE_SHOWN)
        countdown.load(due)
        return {"decisions_due": _list_rows((application, countdown(application)) for application in due)}
    return {}


@login_required
@require_safe
def application_list(request):
    """One page of the user's applications; the selector filters, orders and pages (keyset, by cursor)."""
    form = ApplicationFilterForm(request.GET)
    role = role_of(request.user)
    countdown = Countdowns(now=timezone.now())
    page, rows = None, []
    if role == CANDIDATE_ROLE:
        # A candidate's few applications, all on one page, what needs their action first (no
        # filters: a parameter edited by hand is reported above the list, which still shows).
        form.is_valid()
        applications = selectors.candidate_applications(user=request.user)
        countdown.load(applications)
        rows = [(application, countdown(application)) for application in applications]
    elif form.is_valid():
        filters = form.cleaned_data
        try:
            page = selectors.application_list(
                user=request.user,
                state=filters["state"],
                query=filters["q"],
                sort=filters["sort"],
                cursor=filters["cursor"],
                size=PAGE_SIZE,
            )
        except SearchTooBroad as exc:
            form.add_error("q", str(exc))
        else:
            countdown.load(page.applications)
            rows = [(application, countdown(application)) for application in page.applications]
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "table_rows": _list_rows(rows) if role != CANDIDATE_ROLE else [],
        "role": role,
        "support": role == SUPPORT_ROLE,
        "count_label": _count_label(page) if page else "",
        # The role's first page (no filter, sort or page asked for) also shows what is due or wrong.
        "filtered": not is_first_page(request),
    }
    if role == CANDIDATE_ROLE:
        context["cards"] = [
            (application, count, _words(application, count, role)) for application, count in rows
        ]
    elif not context["filtered"]:
        context.update(_first_page_extras(request, role, countdown))
    return render(request, "applications/application_list.html", context)


@dataclass(frozen=True)
class Words:
    tag: Tag
    description: str
    next_step: str


#: The application page's status panel says the deadline once, on its own line; the sentences under it point there.
DEADLINE_ABOVE = "the deadline above"


def _words(application: Application, countdown: Countdown, role: str, *, deadline_words: str | None = None) -> Words:
    """``deadline_words``: how the sentences name the deadline (its date and time unless given)."""
    deadline = countdown.deadline_words if deadline_words is None else deadline_words
    if countdown.passed:
        description = expired_description(application, role=role)
    else:
        description = state_description(application, role=role, deadline_words=deadline)
    next_step = ""
    if role == CANDIDATE_ROLE:
        next_step = "" if countdown.passed else candidate_next_step(application, deadline_words=deadline)
    return Words(tag=state_tag(application), description=description, next_step=next_step)


def _timeline(application: Application, *, role: str, viewer) -> list[dict]:
    return [
        {
            "event": event,
            "title": event_title(event.kind),
            "from_tag": state_tag_for(event.from_state) if event.from_state else None,
            "to_tag": state_tag_for(event.to_state) if event.to_state else None,
            "moved": event.from_state != event.to_state,
            "actor": event_actor(event, role=role, viewer=viewer),
            "detail": _detail_items(event.detail),
        }
        for event in application.events.select_related("actor_user")
    ]


def _detail_items(detail: dict) -> list[tuple[str, str]]:
    """An event's detail for people: ISO datetimes (stored in UTC) shown in London time."""
    items = []
    for key, value in detail.items():
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                value = dateformat.format(timezone.localtime(moment, LONDON), "j M Y H:i T")
        items.append((detail_key(key), detail_value(value)))
    return items


def _detail_context(request, pk: int) -> dict:
    application = get_object_or_404(applications_visible_to(request.user), pk=pk)
    role = role_of(request.user)
    countdown = Countdowns(now=timezone.now())(application)
    # Past its live deadline the application belongs to the by-default rule (the service
    # refuses by the database's clock; this only stops offering buttons that would fail).
    actions = [
        action
        for action in ACTIONS.values()
        if application.state in action.allowed_from and _may(request.user, application, action)
    ] if not countdown.passed else []
    return {
        "application": application,
        "role": role,
        "countdown": countdown,
        "words": _words(application, countdown, role, deadline_words=DEADLINE_ABOVE if countdown.deadline else None),
        "expired": countdown.passed,
        "timeline": _timeline(application, role=role, viewer=request.user),
        "actions": actions,
        "refresh_seconds": LIVE_REFRESH_SECONDS,
    }


@login_required
@require_safe
def application_detail(request, pk: int):
    return render(request, "applications/application_detail.html", _detail_context(request, pk))


@login_required
@require_safe
def application_live(request, pk: int):
    """The application page's changing parts alone (status, actions, timeline), for the page to refresh itself."""
    return render(request, "applications/application_live.html", _detail_context(request, pk))


def _refuse(request, application: Application, message: str, *, status: int, title: str = ""):
    context = {"application": application, "message": message, "status": status, "title": title}
    return render(request, "applications/action_refused.html", context, status=status)


def _no_longer_possible(application: Application, action: Action) -> str:
    """Why a confirmation page offers no button: the application has moved on (the same
    from-states the service checks; its refusal on submit says the same)."""
    now = state_tag(application).text.lower()
    return (
        f"{action.label} is not possible: application {application.pk} is “{now}”, and this can only be "
        "done before that (someone may have acted on it since the page was loaded)."
    )


def _not_done(application: Application, action: Action, exc: DomainError) -> str:
    """A refusal in words: what was not done and why; the service's message names the state, not the action."""
    if isinstance(exc, TransitionNotAllowed):
        now = state_tag_for(exc.current_state).text.lower()
        return (
            f"{action.label} was not done: application {application.pk} is now “{now}”, so this is no "
            "longer possible (someone may have acted on it since the page was loaded). Nothing has changed."
        )
    message = str(exc)
    return message if message.rstrip(".").endswith(("Nothing changed", "Nothing has changed")) else (
        f"{message} Nothing has changed."
    )


def _confirmation(request, application: Application, action: Action):
    """The page that asks before a binding action; for an offer, the deadline it would set."""
    offer_deadline = None
    if action.transition is MAKE_OFFER:
        offer_deadline = Countdown(
            deadline=DBD_DEADLINE.at(start=timezone.now(), calendar=calendar_for_cycle(application.cycle)),
            working_days=DBD_DEADLINE.working_days.count,
            passed=False,
        ).deadline_words
    role = role_of(request.user)
    context = {
        "application": application,
        "action": action,
        "role": role,
        "words": _words(application, Countdowns(now=timezone.now())(application), role),
        "offer_deadline": offer_deadline,
        "offer_days": DBD_DEADLINE.working_days.count,
    }
    return render(request, "applications/action_confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def application_action(request, pk: int, action: str):
    """POST performs the action. GET shows the confirmation page of binding actions only."""
    application = get_object_or_404(applications_visible_to(request.user), pk=pk)
    chosen = ACTIONS.get(action)
    if chosen is None:
        return _refuse(request, application, f"There is no action called “{action}”.", status=404)
    if not _may(request.user, application, chosen):
        return _refuse(request, application, _refusal(application, chosen), status=403)
    if request.method != "POST":
        if application.state not in chosen.allowed_from:
            return _refuse(request, application, _no_longer_possible(application, chosen), status=409,
                           title="No longer possible")
        if Countdowns(now=timezone.now())(application).passed:
            return _refuse(request, application, expired_description(application, role=role_of(request.user)),
                           status=409, title="Deadline passed")
        if chosen.confirm:
            return _confirmation(request, application, chosen)
        message = (
            f"{chosen.label} is done with its button on the application page, not by opening an address. "
            "Go back to the application and use the button there."
        )
        context = {"application": application, "message": message, "status": 405}
        return HttpResponseNotAllowed(
            ["POST"], content=render_to_string("applications/action_refused.html", context, request=request)
        )
    arguments = {"application_id": application.pk, "actor": Actor(user=request.user)}
    if chosen.takes_now:
        arguments["now"] = timezone.now()
    try:
        changed = chosen.service(**arguments)
    except DomainError as exc:
        messages.error(request, _not_done(application, chosen, exc))
    else:
        after = Countdowns(now=timezone.now())(changed) if isinstance(changed, Application) else None
        then = chosen.then.format(deadline=after.deadline_words if after else "the deadline")
        messages.success(request, f"Application {application.pk}: {chosen.done.lower()}. {then}")
    return redirect("applications:detail", pk=application.pk)
