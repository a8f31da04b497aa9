"""Web adapter for applications: the list, one application, and the actions each role may take.

Reads go through selectors and writes through services. The services are the authority
on transitions: ``Action.allowed_from`` below only decides which buttons to show, and a
stale button still ends in the service's domain error, shown to the user.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import dateformat, timezone
from django.views.decorators.http import require_http_methods, require_safe

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import DomainError
from apps.applications.forms import ApplicationFilterForm
from apps.applications.models import AWAITING_DECISION_STATES, Application, ApplicationState
from apps.applications.selectors import ApplicationPage, SearchTooBroad, applications_visible_to
from apps.applications.selectors import application_list as select_applications
from apps.applications.working_days import LONDON, working_days_left

PAGE_SIZE = 25
S = ApplicationState

# Who may take an action: the candidate who owns the application, or the provider side
# (the course's provider's users, and support users acting for them).
CANDIDATE = "candidate"
PROVIDER = "provider"


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    done: str
    by: str
    service: Callable[..., Application]
    allowed_from: tuple[str, ...]
    destructive: bool = False
    takes_now: bool = False


def _actions(*actions: Action) -> dict[str, Action]:
    return {action.name: action for action in actions}


ACTIONS = _actions(
    # The candidate's own actions.
    Action(
        name="submit", label="Submit application", done="submitted", by=CANDIDATE,
        service=services.application_submit, allowed_from=(S.UNSUBMITTED,), takes_now=True,
    ),
    Action(
        name="withdraw", label="Withdraw application", done="withdrawn", by=CANDIDATE,
        service=services.application_withdraw, allowed_from=AWAITING_DECISION_STATES, destructive=True,
    ),
    Action(
        name="accept_offer", label="Accept offer", done="offer accepted", by=CANDIDATE,
        service=services.application_accept_offer, allowed_from=(S.OFFER,),
    ),
    Action(
        name="decline_offer", label="Decline offer", done="offer declined", by=CANDIDATE,
        service=services.application_decline_offer, allowed_from=(S.OFFER,), destructive=True,
    ),
    # The provider's decisions (support users may take them too).
    Action(
        name="interview", label="Invite to interview", done="moved to interviewing", by=PROVIDER,
        service=services.application_interview, allowed_from=(S.AWAITING_PROVIDER_DECISION,),
    ),
    Action(
        name="make_offer", label="Make offer", done="offer made", by=PROVIDER,
        service=services.application_make_offer, allowed_from=AWAITING_DECISION_STATES, takes_now=True,
    ),
    Action(
        name="reject", label="Reject application", done="rejected", by=PROVIDER,
        service=services.application_reject, allowed_from=AWAITING_DECISION_STATES, destructive=True,
    ),
    Action(
        name="withdraw_offer", label="Withdraw offer", done="offer withdrawn", by=PROVIDER,
        service=services.application_withdraw_offer, allowed_from=(S.OFFER,), destructive=True,
    ),
    Action(
        name="confirm_recruited", label="Confirm recruited", done="candidate recruited", by=PROVIDER,
        service=services.application_confirm_recruited, allowed_from=(S.ACCEPTED,),
    ),
    Action(
        name="conditions_not_met", label="Conditions not met", done="marked as conditions not met", by=PROVIDER,
        service=services.application_conditions_not_met, allowed_from=(S.ACCEPTED,), destructive=True,
    ),
)


def _may(user, application: Application, action: Action) -> bool:
    if action.by == CANDIDATE:
        return application.candidate_id == user.pk
    if user.is_staff:
        return True
    provider_user = getattr(user, "provider_user", None)
    return provider_user is not None and provider_user.provider_id == application.course.provider_id


def _refusal(application: Application, action: Action) -> str:
    if action.by == CANDIDATE:
        return f"“{action.label}” is only for the candidate who made application {application.pk}."
    return f"“{action.label}” is only for users of {application.course.provider} and support."


@dataclass(frozen=True)
class Countdown:
    deadline: datetime | None
    working_days: int | None
    passed: bool

    @property
    def deadline_text(self) -> str:
        """The deadline in London time, e.g. "30 Nov 2026 23:59 GMT" (strftime: many rows per page)."""
        moment = timezone.localtime(self.deadline, LONDON)
        return f"{moment.day} {moment:%b %Y %H:%M} {moment.tzname()}"

    @property
    def label(self) -> str:
        """What the list and the application page say about the time left."""
        if self.deadline is None:
            return "–"
        if self.passed:
            return "Deadline passed"
        if self.working_days == 0:
            return "Last day"
        return f"{self.working_days} working day{'' if self.working_days == 1 else 's'}"


class Countdowns:
    """Working days left per application, with one calendar per cycle for the whole request."""

    def __init__(self, *, now: datetime):
        self.now = now
        self._calendars = {}

    def __call__(self, application: Application) -> Countdown:
        deadline = application.deadline_at
        if deadline is None:
            return Countdown(deadline=None, working_days=None, passed=False)
        calendar = self._calendars.get(application.cycle_id)
        if calendar is None:
            calendar = self._calendars[application.cycle_id] = calendar_for_cycle(application.cycle)
        days = working_days_left(now=self.now, deadline=deadline, calendar=calendar)
        return Countdown(deadline=deadline, working_days=days, passed=deadline <= self.now)


def _count_label(page: ApplicationPage) -> str:
    if not page.count_is_exact:
        return f"More than {page.count_limit:,} applications"
    return f"{page.count:,} application{'' if page.count == 1 else 's'}"


@login_required
@require_safe
def application_list(request):
    """One page of the user's applications; the selector filters, orders and pages (keyset, by cursor)."""
    form = ApplicationFilterForm(request.GET)
    page, rows = None, []
    if form.is_valid():
        filters = form.cleaned_data
        try:
            page = select_applications(
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
            # One query for the whole page's calendars, whichever runs of the sort it spans.
            prefetch_related_objects(page.applications, "cycle__non_working_periods")
            countdown = Countdowns(now=timezone.now())
            rows = [(application, countdown(application)) for application in page.applications]
    context = {"form": form, "page": page, "rows": rows, "count_label": _count_label(page) if page else ""}
    return render(request, "applications/application_list.html", context)


def _state_label(value: str) -> str:
    return S(value).label if value in S.values else value


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
        items.append((key.replace("_", " ").capitalize(), value))
    return items


@login_required
@require_safe
def application_detail(request, pk: int):
    visible = applications_visible_to(request.user).prefetch_related("cycle__non_working_periods")
    application = get_object_or_404(visible, pk=pk)
    timeline = [
        {
            "event": event,
            "from_label": _state_label(event.from_state),
            "to_label": _state_label(event.to_state),
            "detail": _detail_items(event.detail),
        }
        for event in application.events.select_related("actor_user")
    ]
    actions = [
        action
        for action in ACTIONS.values()
        if application.state in action.allowed_from and _may(request.user, application, action)
    ]
    context = {
        "application": application,
        "countdown": Countdowns(now=timezone.now())(application),
        "timeline": timeline,
        "actions": actions,
    }
    return render(request, "applications/application_detail.html", context)


def _refuse(request, application: Application, message: str, *, status: int):
    context = {"application": application, "message": message, "status": status}
    return render(request, "applications/action_refused.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def application_action(request, pk: int, action: str):
    """POST performs the action. GET shows the confirmation page for destructive actions only."""
    application = get_object_or_404(applications_visible_to(request.user), pk=pk)
    chosen = ACTIONS.get(action)
    if chosen is None:
        return _refuse(request, application, f"There is no action called “{action}”.", status=404)
    if not _may(request.user, application, chosen):
        return _refuse(request, application, _refusal(application, chosen), status=403)
    if request.method != "POST":
        if chosen.destructive:
            return render(request, "applications/action_confirm.html", {"application": application, "action": chosen})
        message = f"{chosen.label} needs the button on the application page (a POST request)."
        context = {"application": application, "message": message, "status": 405}
        return HttpResponseNotAllowed(
            ["POST"], content=render_to_string("applications/action_refused.html", context, request=request)
        )
    arguments = {"application_id": application.pk, "actor": Actor(user=request.user)}
    if chosen.takes_now:
        arguments["now"] = timezone.now()
    try:
        chosen.service(**arguments)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Application {application.pk}: {chosen.done}.")
    return redirect("applications:detail", pk=application.pk)
