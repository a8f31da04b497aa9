import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.applications.models import Application, ApplicationEvent, ApplicationState, NonWorkingPeriod, Provider
from apps.applications.working_days import end_of_london_day
from apps.outbox.models import OutboxEmail
from tests.factories import (
    make_application,
    make_course,
    make_cycle,
    make_provider,
    make_provider_user,
    make_support_user,
    make_user,
)

S = ApplicationState
# A Monday in November (GMT), well inside the 2026 cycle's apply window.
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@dataclass
class World:
    provider: Provider
    other_provider: Provider
    candidate: User
    other_candidate: User
    provider_user: User
    other_provider_user: User
    support: User

    def user(self, role: str) -> User:
        return {"candidate": self.candidate, "provider": self.provider_user, "support": self.support}[role]

    def application(self, *, state=S.AWAITING_PROVIDER_DECISION, candidate=None, provider=None, **fields):
        course = make_course(provider=provider or self.provider)
        return make_application(candidate=candidate or self.candidate, course=course, state=state, **fields)


@pytest.fixture
def world():
    provider, other_provider = make_provider(name="Alpha SCITT"), make_provider(name="Beta University")
    return World(
        provider=provider,
        other_provider=other_provider,
        candidate=make_user(username="cand"),
        other_candidate=make_user(username="other-cand"),
        provider_user=make_provider_user(provider=provider),
        other_provider_user=make_provider_user(provider=other_provider),
        support=make_support_user(),
    )


def login(client, user):
    client.force_login(user)
    return client


def listed_ids(response) -> list[int]:
    return [application.pk for application, _ in response.context["rows"]]


def action_url(application, action):
    return f"/{application.pk}/{action}/"


def state_of(application) -> str:
    return Application.objects.values_list("state", flat=True).get(pk=application.pk)



# --- Login ------------------------------------------------------------------------


def test_pages_require_login(client, world):
    application = world.application()
    for url in ["/", f"/{application.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    response = client.post(action_url(application, "reject"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION


def test_login_page_signs_in_and_out(client, world):
    response = client.get("/login/")
    assert response.status_code == 200
    assert '<label for="id_username">Username</label>' in response.content.decode()

    response = client.post("/login/", {"username": "cand", "password": "wrong"})
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()

    response = client.post("/login/", {"username": "cand", "password": "pass-word-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"

    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("candidate", "(candidate)", "Jobs dashboard"),
        ("provider", "(Alpha SCITT)", "Jobs dashboard"),
        ("support", "(support)", None),
    ],
)
def test_navigation_shows_the_user_and_role(client, world, role, shown, hidden):
    content = login(client, world.user(role)).get("/").content.decode()
    assert world.user(role).username in content
    assert shown in content
    assert 'action="/logout/"' in content
    if hidden:
        assert hidden not in content
    else:
        assert '<a href="/django-rq/">Jobs dashboard</a>' in content
        assert '<a href="/admin/">Admin</a>' in content


# --- Who sees what ----------------------------------------------------------------


def test_provider_sees_only_their_providers_applications(client, world):
    own = [world.application(), world.application(candidate=world.other_candidate)]
    other = world.application(provider=world.other_provider)

    login(client, world.provider_user)
    assert sorted(listed_ids(client.get("/"))) == sorted(a.pk for a in own)
    assert client.get(f"/{own[0].pk}/").status_code == 200
    assert client.get(f"/{other.pk}/").status_code == 404
    for action in ["reject", "make_offer"]:
        assert client.post(action_url(other, action)).status_code == 404
    assert client.get(action_url(other, "reject")).status_code == 404
    assert state_of(other) == S.AWAITING_PROVIDER_DECISION
    assert not ApplicationEvent.objects.exists()


def test_candidate_sees_only_their_own_applications(client, world):
    own = world.application(provider=world.other_provider)
    theirs = world.application(candidate=world.other_candidate)

    login(client, world.candidate)
    assert listed_ids(client.get("/")) == [own.pk]
    assert client.get(f"/{own.pk}/").status_code == 200
    assert client.get(f"/{theirs.pk}/").status_code == 404
    assert client.post(action_url(theirs, "withdraw")).status_code == 404
    assert state_of(theirs) == S.AWAITING_PROVIDER_DECISION


def test_support_sees_everything(client, world):
    applications = [
        world.application(),
        world.application(provider=world.other_provider),
        world.application(candidate=world.other_candidate, state=S.UNSUBMITTED),
    ]
    login(client, world.support)
    assert sorted(listed_ids(client.get("/"))) == sorted(a.pk for a in applications)
    for application in applications:
        assert client.get(f"/{application.pk}/").status_code == 200


# --- Filters, search, sort, pagination --------------------------------------------


def test_filter_by_state(client, world):
    awaiting = world.application()
    offer = world.application(state=S.OFFER)
    login(client, world.provider_user)
    assert listed_ids(client.get("/", {"state": "offer"})) == [offer.pk]
    assert listed_ids(client.get("/", {"state": "awaiting_provider_decision"})) == [awaiting.pk]


def test_search_by_candidate_and_course(client, world):
    by_candidate = world.application(candidate=make_user(username="zoe-smith"))
    by_course = make_application(
        candidate=world.candidate, course=make_course(provider=world.provider, code="3XK9", name="Physics with maths")
    )
    login(client, world.support)
    assert listed_ids(client.get("/", {"q": "zoe-sm"})) == [by_candidate.pk]
    assert listed_ids(client.get("/", {"q": "zoe-smith@example"})) == [by_candidate.pk]
    assert listed_ids(client.get("/", {"q": "3xk9"})) == [by_course.pk]
    assert listed_ids(client.get("/", {"q": "physics"})) == [by_course.pk]
    response = client.get("/", {"q": "nobody-matches"})
    assert listed_ids(response) == []
    assert "No applications match." in response.content.decode()


def test_bad_filter_is_reported_and_lists_nothing(client, world):
    world.application()
    response = login(client, world.support).get("/", {"state": "nonsense"})
    assert response.status_code == 200
    assert listed_ids(response) == []
    content = response.content.decode()
    assert "There is a problem with the filters" in content
    assert "State: Choose a state from the list (“nonsense” is not one)." in content  # plain words


def test_sort_by_live_deadline_or_newest(client, world):
    later = world.application(reject_by_default_at=datetime(2026, 11, 20, 23, 59, tzinfo=UTC))
    sooner = world.application(reject_by_default_at=datetime(2026, 11, 10, 23, 59, tzinfo=UTC))
    no_deadline = world.application(state=S.REJECTED, reject_by_default_at=datetime(2026, 11, 3, 23, 59, tzinfo=UTC))
    # An offer's live deadline is its decline-by-default date, not its old reject-by-default date.
    offer = world.application(
        state=S.OFFER,
        reject_by_default_at=datetime(2026, 11, 25, 23, 59, tzinfo=UTC),
        decline_by_default_at=datetime(2026, 11, 5, 23, 59, tzinfo=UTC),
    )
    login(client, world.provider_user)
    expected = [offer.pk, sooner.pk, later.pk, no_deadline.pk]
    assert listed_ids(client.get("/")) == expected
    assert listed_ids(client.get("/", {"sort": "deadline"})) == expected
    assert listed_ids(client.get("/", {"sort": "newest"})) == [offer.pk, no_deadline.pk, sooner.pk, later.pk]


def test_pagination_keeps_the_filters(client, world):
    course = make_course(provider=world.provider)
    cycle = make_cycle()
    for _ in range(30):
        make_application(candidate=world.candidate, course=course, cycle=cycle, state=S.AWAITING_PROVIDER_DECISION)
    make_application(candidate=world.candidate, course=course, cycle=cycle, state=S.OFFER)
    login(client, world.provider_user)

    first = client.get("/", {"state": "awaiting_provider_decision", "sort": "newest"})
    assert len(listed_ids(first)) == 25
    content = first.content.decode()
    assert "<caption>30 applications</caption>" in content
    assert 'rel="prev"' not in content
    next_href = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', content).group(1).replace("&amp;", "&")
    assert next_href.startswith("?state=awaiting_provider_decision&sort=newest&cursor=")

    second = client.get("/" + next_href)
    assert len(listed_ids(second)) == 5
    assert set(listed_ids(first)).isdisjoint(listed_ids(second))
    content = second.content.decode()
    assert 'rel="next"' not in content
    prev_href = re.search(r'<a href="([^"]+)" rel="prev">Previous page</a>', content).group(1).replace("&amp;", "&")
    assert prev_href.startswith("?state=awaiting_provider_decision&sort=newest&cursor=")
    assert listed_ids(client.get("/" + prev_href)) == listed_ids(first)


# --- Deadlines and countdown ------------------------------------------------------


def test_deadline_in_london_time_and_working_days_left(client, world):
    friday = end_of_london_day(date(2026, 11, 6))
    application = world.application(reject_by_default_at=friday)
    login(client, world.provider_user)

    content = client.get("/").content.decode()
    assert "6 Nov 2026 23:59 GMT" in content
    assert "4 working days" in content  # Tuesday to Friday

    NonWorkingPeriod.objects.create(
        cycle=application.cycle, name="Closure", starts_on=date(2026, 11, 4), ends_on=date(2026, 11, 5)
    )
    assert "2 working days" in client.get("/").content.decode()
    assert "2 working days left" in client.get(f"/{application.pk}/").content.decode()


def test_list_queries_do_not_grow_with_rows_or_cycles(client, world):
    course = make_course(provider=world.provider)
    login(client, world.provider_user)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    def add(n, years):
        for i in range(n):
            cycle = make_cycle(year=years[i % len(years)])
            NonWorkingPeriod.objects.get_or_create(
                cycle=cycle, name="Christmas", starts_on=date(2026, 12, 24), ends_on=date(2027, 1, 1)
            )
            make_application(
                candidate=world.candidate,
                course=course,
                cycle=cycle,
                state=S.AWAITING_PROVIDER_DECISION,
                reject_by_default_at=end_of_london_day(date(2026, 12, 1 + i)),
            )

    add(2, years=[2026])
    few = queries_for_list()
    add(20, years=[2027, 2028, 2029])
    assert queries_for_list() == few


# --- Detail and timeline ----------------------------------------------------------


def test_detail_shows_fields_and_timeline_with_job_actor(client, world):
    application = world.application(state=S.REJECTED, rejected_by_default=True)
    ApplicationEvent.objects.create(
        application=application,
        kind="submit",
        from_state=S.UNSUBMITTED,
        to_state=S.AWAITING_PROVIDER_DECISION,
        actor_user=world.candidate,
        created_at=datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
        detail={"reject_by_default_at": "2026-07-29T22:59:59.999999+00:00"},
    )
    ApplicationEvent.objects.create(
        application=application,
        kind="reject_by_default",
        from_state=S.AWAITING_PROVIDER_DECISION,
        to_state=S.REJECTED,
        actor_job_name="jobs.applications.applications_reject_by_default",
        actor_job_id="rbd-batch-42",
        created_at=datetime(2026, 8, 1, 0, 0, 1, tzinfo=UTC),
    )
    content = login(client, world.provider_user).get(f"/{application.pk}/").content.decode()
    assert f"<h1>Application {application.pk}</h1>" in content
    assert ">Rejected by default</strong>" in content  # the state tag says it in words
    assert "Alpha SCITT" in content
    # London time: BST in summer.
    assert "1 Jul 2026 12:00:00 BST" in content
    assert "1 Aug 2026 01:00:01 BST" in content
    assert "Decision deadline: 29 Jul 2026 23:59 BST" in content
    assert "Not submitted → Awaiting decision" in content
    assert "by cand" in content
    assert "by the service (automatically)" in content
    assert content.index("<strong>Application submitted</strong>") < content.index(
        "<strong>Rejected by default: no decision by the deadline</strong>"
    )
    assert "There is nothing to do on this application now." in content
    # Job names, job ids and internal state names are for support.
    for internal in ("jobs.applications", "rbd-batch-42", "reject_by_default", "awaiting_provider_decision"):
        assert internal not in content, internal

    content = login(client, world.support).get(f"/{application.pk}/").content.decode()
    assert "by job jobs.applications.applications_reject_by_default (rbd-batch-42)" in content


@pytest.mark.parametrize(
    ("role", "state", "shown", "not_shown"),
    [
        ("candidate", S.UNSUBMITTED, ["submit"], ["withdraw", "make_offer"]),
        ("candidate", S.OFFER, ["accept_offer", "decline_offer"], ["withdraw_offer", "withdraw"]),
        ("provider", S.AWAITING_PROVIDER_DECISION, ["interview", "make_offer", "reject"], ["withdraw", "submit"]),
        ("provider", S.ACCEPTED, ["confirm_recruited", "conditions_not_met"], ["accept_offer", "reject"]),
        ("support", S.INTERVIEWING, ["make_offer", "reject"], ["interview", "withdraw"]),
    ],
)
def test_detail_offers_the_actions_of_the_role_in_the_state(client, world, role, state, shown, not_shown):
    application = world.application(state=state)
    content = login(client, world.user(role)).get(f"/{application.pk}/").content.decode()
    for action in shown:
        assert f'"{action_url(application, action)}"' in content
    for action in not_shown:
        assert f'"{action_url(application, action)}"' not in content


# --- Actions ----------------------------------------------------------------------

ALLOWED = [
    ("candidate", S.UNSUBMITTED, "submit", S.AWAITING_PROVIDER_DECISION),
    ("candidate", S.AWAITING_PROVIDER_DECISION, "withdraw", S.WITHDRAWN),
    ("candidate", S.INTERVIEWING, "withdraw", S.WITHDRAWN),
    ("candidate", S.OFFER, "accept_offer", S.ACCEPTED),
    ("candidate", S.OFFER, "decline_offer", S.DECLINED),
    ("provider", S.AWAITING_PROVIDER_DECISION, "interview", S.INTERVIEWING),
    ("provider", S.INTERVIEWING, "make_offer", S.OFFER),
    ("provider", S.AWAITING_PROVIDER_DECISION, "reject", S.REJECTED),
    ("provider", S.OFFER, "withdraw_offer", S.OFFER_WITHDRAWN),
    ("provider", S.ACCEPTED, "confirm_recruited", S.RECRUITED),
    ("provider", S.ACCEPTED, "conditions_not_met", S.CONDITIONS_NOT_MET),
    ("support", S.AWAITING_PROVIDER_DECISION, "make_offer", S.OFFER),
    ("support", S.INTERVIEWING, "reject", S.REJECTED),
]


@pytest.mark.parametrize(("role", "from_state", "action", "to_state"), ALLOWED)
def test_allowed_action_changes_state_and_records_the_user(client, world, role, from_state, action, to_state):
    application = world.application(state=from_state)
    user = world.user(role)
    login(client, user)

    response = client.post(action_url(application, action), follow=True)

    assert response.redirect_chain == [(f"/{application.pk}/", 302)]
    assert state_of(application) == to_state
    event = ApplicationEvent.objects.get(application=application)
    assert (event.kind, event.from_state, event.to_state) == (action, from_state, to_state)
    assert event.actor_user == user
    content = response.content.decode()
    assert f"Application {application.pk}: " in content
    assert '<div class="banner banner--success" role="status">' in content
    assert "by you" in content  # the timeline shows who did it


def test_submit_sets_the_deadline_and_writes_the_providers_email(client, world):
    application = world.application(state=S.UNSUBMITTED)
    login(client, world.candidate).post(action_url(application, "submit"))

    application.refresh_from_db()
    assert application.submitted_at == NOW
    # 20 working days after Monday 2 November 2026: Monday 30 November, end of the London day.
    assert application.reject_by_default_at == end_of_london_day(date(2026, 11, 30))
    email = OutboxEmail.objects.get(key=f"submitted:provider:{application.pk}")
    assert email.to == [world.provider.email]
    assert str(application.pk) in email.subject
    assert application.course.name in email.body_text
    assert "23:59 on Monday 30 November 2026" in email.body_text
    assert "23:59 on Monday 30 November 2026" in email.body_html


def test_make_offer_writes_the_candidates_email(client, world):
    application = world.application()
    login(client, world.provider_user).post(action_url(application, "make_offer"))

    email = OutboxEmail.objects.get(key=f"offer:candidate:{application.pk}")
    assert email.to == [world.candidate.email]
    assert "Alpha SCITT" in email.subject
    # 10 working days after Monday 2 November 2026.
    assert "23:59 on Monday 16 November 2026" in email.body_text


@pytest.mark.parametrize(
    ("role", "state", "action"),
    [
        ("candidate", S.AWAITING_PROVIDER_DECISION, "make_offer"),
        ("candidate", S.AWAITING_PROVIDER_DECISION, "reject"),
        ("provider", S.OFFER, "accept_offer"),
        ("provider", S.OFFER, "withdraw"),
        ("support", S.OFFER, "decline_offer"),
        ("support", S.UNSUBMITTED, "submit"),
    ],
)
def test_action_of_another_role_is_forbidden_and_changes_nothing(client, world, role, state, action):
    application = world.application(state=state)
    login(client, world.user(role))
    for method in (client.post, client.get):
        response = method(action_url(application, action))
        assert response.status_code == 403
        assert "is only for" in response.content.decode()
        assert "Nothing has changed." in response.content.decode()
    assert state_of(application) == state
    assert not ApplicationEvent.objects.exists()


def test_providers_do_not_see_a_candidates_draft(client, world):
    draft = world.application(state=S.UNSUBMITTED)
    login(client, world.provider_user)
    assert client.get(f"/{draft.pk}/").status_code == 404
    assert client.post(action_url(draft, "submit")).status_code == 404
    assert state_of(draft) == S.UNSUBMITTED


def test_invalid_transition_shows_the_domain_error_and_changes_nothing(client, world):
    application = world.application(state=S.AWAITING_PROVIDER_DECISION)
    response = login(client, world.candidate).post(action_url(application, "accept_offer"), follow=True)

    assert response.redirect_chain == [(f"/{application.pk}/", 302)]
    content = response.content.decode()
    assert '<div class="banner banner--error" role="alert">' in content
    assert f"Accept offer was not done: application {application.pk} is now “awaiting decision”" in content
    assert "Nothing has changed." in content
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION
    assert not ApplicationEvent.objects.exists()


def test_submit_after_the_apply_deadline_shows_the_domain_error(client, world, time_machine):
    application = world.application(state=S.UNSUBMITTED)
    time_machine.move_to(datetime(2027, 9, 2, 9, 0, tzinfo=UTC), tick=False)
    response = login(client, world.candidate).post(action_url(application, "submit"), follow=True)

    assert "The 2026 cycle closed to new applications on 01 September 2027." in response.content.decode()
    assert state_of(application) == S.UNSUBMITTED
    assert not OutboxEmail.objects.exists()


def test_unknown_action_is_not_found(client, world):
    application = world.application()
    response = login(client, world.support).post(action_url(application, "explode"))
    assert response.status_code == 404
    assert "There is no action called “explode”." in response.content.decode()
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION


def test_non_binding_action_needs_post(client, world):
    application = world.application()
    login(client, world.provider_user)
    response = client.get(action_url(application, "interview"))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert client.put(action_url(application, "interview")).status_code == 405
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION
    assert not ApplicationEvent.objects.exists()


@pytest.mark.parametrize(
    ("role", "state", "action"),
    [
        ("provider", S.AWAITING_PROVIDER_DECISION, "reject"),
        ("provider", S.OFFER, "withdraw_offer"),
        ("provider", S.ACCEPTED, "conditions_not_met"),
        ("candidate", S.INTERVIEWING, "withdraw"),
        ("candidate", S.OFFER, "decline_offer"),
    ],
)
def test_destructive_action_get_shows_a_confirmation_page(client, world, role, state, action):
    application = world.application(state=state)
    response = login(client, world.user(role)).get(action_url(application, action))

    assert response.status_code == 200
    content = response.content.decode()
    assert f'<form method="post" action="{action_url(application, action)}">' in content
    assert "csrfmiddlewaretoken" in content
    assert "This cannot be undone." in content
    assert state_of(application) == state
    assert not ApplicationEvent.objects.exists()


@pytest.mark.parametrize(
    ("role", "state", "action", "shown"),
    [
        ("candidate", S.REJECTED, "withdraw", "rejected by default"),  # the probe's case
        ("candidate", S.WITHDRAWN, "withdraw", "withdrawn"),
        ("candidate", S.DECLINED, "accept_offer", "declined by default"),
        ("provider", S.REJECTED, "make_offer", "rejected"),
        ("provider", S.OFFER, "reject", "offer made"),
    ],
)
def test_a_confirmation_page_for_an_action_no_longer_possible_refuses_on_the_page(client, world, role, state, action, shown):
    by_default = {"rejected_by_default": True} if "rejected by" in shown else {"declined_by_default": True} if "declined by" in shown else {}
    application = world.application(state=state, **by_default)
    response = login(client, world.user(role)).get(action_url(application, action))

    assert response.status_code == 409
    content = response.content.decode()
    assert "No longer possible" in content
    assert f"is not possible: application {application.pk} is “{shown}”" in content
    assert "<form method=\"post\"" not in content.split("<main", 1)[1]  # no live button
    assert f'href="/{application.pk}/"' in content  # the way back
    assert state_of(application) == state


@pytest.mark.parametrize(
    ("role", "state", "action", "label"),
    [
        ("provider", S.AWAITING_PROVIDER_DECISION, "make_offer", "Make offer"),
        ("provider", S.ACCEPTED, "confirm_recruited", "Confirm recruited"),
        ("candidate", S.OFFER, "accept_offer", "Accept offer"),
        ("provider", S.AWAITING_PROVIDER_DECISION, "reject", "Reject application"),
    ],
)
def test_binding_actions_ask_first_and_the_page_links_to_the_question(client, world, role, state, action, label):
    application = world.application(state=state)
    login(client, world.user(role))
    page = client.get(f"/{application.pk}/").content.decode()
    assert f'href="{action_url(application, action)}">{label}</a>' in page  # a link, not a one-click form

    content = client.get(action_url(application, action)).content.decode()
    assert f"<h1>{label}?</h1>" in content
    assert f'<button type="submit" class="button' in content and f">{label}</button>" in content
    assert f'<a href="/{application.pk}/">Cancel</a>' in content
    assert state_of(application) == state
    assert not ApplicationEvent.objects.exists()


def test_the_offer_confirmation_says_until_when_the_candidate_may_answer(client, world):
    application = world.application()
    content = login(client, world.provider_user).get(action_url(application, "make_offer")).content.decode()
    content = " ".join(content.split())
    # Monday 2 November 2026 plus 10 working days.
    assert "until <strong>Monday 16 November 2026 at 23:59 GMT</strong>" in content
    assert "the offer is declined by default" in content


def test_success_says_what_happens_next(client, world):
    application = world.application()
    response = login(client, world.provider_user).post(action_url(application, "make_offer"), follow=True)
    content = response.content.decode()
    assert '<div class="banner banner--success" role="status">' in content
    assert (
        f"Application {application.pk}: offer made. The candidate has been emailed. They have until Monday 16 "
        "November 2026 at 23:59 GMT to accept or decline; if they do not answer by then, the offer is declined by default."
    ) in content


def test_actions_are_csrf_protected(world):
    application = world.application()
    client = login(Client(enforce_csrf_checks=True), world.provider_user)

    assert client.post(action_url(application, "reject")).status_code == 403
    assert state_of(application) == S.AWAITING_PROVIDER_DECISION

    confirm = client.get(action_url(application, "reject")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm).group(1)
    response = client.post(action_url(application, "reject"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert state_of(application) == S.REJECTED


# --- Jobs dashboard ---------------------------------------------------------------


def test_jobs_dashboard_is_support_only(client, world):
    response = client.get("/django-rq/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

    for user in (world.provider_user, world.candidate):
        assert login(client, user).get("/django-rq/").status_code == 403

    assert login(client, world.support).get("/django-rq/").status_code == 200


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (dict(minutes=2, seconds=30), "Last day: 2 minutes left"),
        (dict(hours=5, minutes=1), "Last day: 5 hours 1 minute left"),
        (dict(hours=1), "Last day: 1 hour left"),
        (dict(seconds=20), "Last day: less than a minute left"),
    ],
)
def test_the_last_day_says_the_hours_and_minutes_left(client, world, left, shown):
    from datetime import timedelta

    application = world.application(reject_by_default_at=NOW + timedelta(**left))
    login(client, world.provider_user)

    detail = client.get(f"/{application.pk}/").content.decode()
    listed = client.get("/?sort=deadline").content.decode()

    assert shown in detail and shown in listed
    assert "today is the last day" not in detail


def test_the_application_page_says_the_deadline_once(client, world):
    application = world.application(reject_by_default_at=end_of_london_day(date(2026, 11, 20)))
    login(client, world.provider_user)

    page = client.get(f"/{application.pk}/").content.decode()
    status = page.split('id="application-status"', 1)[1].split("</div>", 1)[0]

    assert status.count("Friday 20 November 2026 at 23:59 GMT") == 1
    assert "A decision is due by the deadline above" in status


def test_a_candidate_s_list_puts_what_needs_their_action_first(client, world):
    from datetime import timedelta

    closed = world.application(state=S.REJECTED)
    waiting = world.application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=NOW + timedelta(days=20))
    draft = world.application(state=S.UNSUBMITTED)
    offer = world.application(state=S.OFFER, decline_by_default_at=NOW + timedelta(days=9))
    login(client, world.candidate)

    page = client.get("/").content.decode()

    positions = [page.index(f'href="/{application.pk}/"') for application in (offer, draft, waiting, closed)]
    assert positions == sorted(positions)
