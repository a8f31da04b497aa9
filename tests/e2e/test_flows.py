"""What people do, in a browser, with the Content-Security-Policy enforced: a provider makes
an offer, the candidate accepts; an open page shows an offer declined by default; support
pauses and runs a clock entry; a provider cannot see another provider's application.

Every flow fails on a console error, an uncaught exception or a CSP violation."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.applications.models import Application, ApplicationState
from apps.scheduling.clock_state import ClockState
from tests.e2e.conftest import PHONE, screenshot, sign_in
from tests.factories import make_application, make_course, make_provider, make_provider_user, make_support_user, make_user
from tests.processes import wait_until

# One worker runs them all (--dist loadgroup): they share one stack and one browser per worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]
S = ApplicationState
LATER = timedelta(days=30)


def banner(page, text):
    """A banner (role=status) saying TEXT; the page may show others, such as a paused rule's."""
    return page.get_by_role("status").filter(has_text=text).first


def binding_action(page, name):
    """An action on the application page: binding ones lead to a confirmation page first."""
    return page.get_by_role("link", name=name).or_(page.get_by_role("button", name=name))


def test_a_provider_filters_and_makes_an_offer_and_the_candidate_accepts_it(browsing, with_password):
    now = timezone.now()
    provider = make_provider(name="Riverside Teaching School")
    course = make_course(provider=provider, name="Primary with mathematics", code="X100")
    provider_user = with_password(make_provider_user(provider=provider, username="rivers-admin"))
    candidate = with_password(make_user(username="ada-lovelace"))
    application = make_application(candidate=candidate, course=course, state=S.AWAITING_PROVIDER_DECISION,
                                   submitted_at=now, reject_by_default_at=now + LATER)
    # Others the filters must leave out: another state, and another candidate in the same state.
    make_application(course=course, state=S.INTERVIEWING, submitted_at=now, reject_by_default_at=now + LATER)
    make_application(candidate=make_user(username="grace-hopper"), course=course, state=S.AWAITING_PROVIDER_DECISION,
                     submitted_at=now, reject_by_default_at=now + LATER)

    page = browsing.page()
    sign_in(page, provider_user.username)
    page.get_by_label("State").select_option(label="Awaiting decision")
    page.get_by_label("Search").fill("lovelace")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada-lovelace")
    screenshot(page, "provider-list-filtered-1280")

    rows.first.get_by_role("link", name=str(application.pk)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Application {application.pk}")
    binding_action(page, "Make offer").click()
    # A binding action asks first: nothing has changed until the confirmation's button.
    confirm = page.get_by_role("button", name="Make offer")
    expect(confirm).to_be_visible()
    assert Application.objects.get(pk=application.pk).state == S.AWAITING_PROVIDER_DECISION
    screenshot(page, "provider-confirm-offer-1280")
    confirm.click()
    expect(banner(page, "offer made")).to_be_visible()
    expect(page.locator("#application-status")).to_contain_text("Offer made")
    assert Application.objects.get(pk=application.pk).state == S.OFFER

    candidate_page = browsing.page(viewport=PHONE)
    sign_in(candidate_page, candidate.username)
    candidate_page.goto(f"/{application.pk}/")
    binding_action(candidate_page, "Accept offer").click()
    confirm = candidate_page.get_by_role("button", name="Accept offer")
    expect(confirm).to_be_visible()
    assert Application.objects.get(pk=application.pk).state == S.OFFER
    confirm.click()
    expect(banner(candidate_page, "offer accepted")).to_be_visible()
    expect(candidate_page.locator("#application-status")).to_contain_text("Offer accepted")
    screenshot(candidate_page, "candidate-offer-accepted-390")
    assert Application.objects.get(pk=application.pk).state == S.ACCEPTED
    assert browsing.problems == []


def test_an_open_page_shows_the_offer_declined_by_default_without_a_reload(browsing, with_password):
    now = timezone.now()
    candidate = make_user(username="alan-turing")
    application = make_application(candidate=candidate, state=S.OFFER, submitted_at=now - LATER, offered_at=now,
                                   decline_by_default_at=now + LATER)
    page = browsing.page(user=candidate)
    page.goto(f"/{application.pk}/")
    status = page.locator("#application-status")
    expect(status).to_contain_text("Offer made")
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))

    # Time passes: the offer's deadline comes a second from now; the clock's two-second sweep
    # and the worker decline it by default, and the page, left open, shows it.
    Application.objects.filter(pk=application.pk).update(decline_by_default_at=timezone.now() + timedelta(seconds=1))
    wait_until(lambda: Application.objects.get(pk=application.pk).declined_by_default, timeout=60,
               message="the sweep to decline the offer by default")
    expect(status).to_contain_text("Declined by default", timeout=30_000)
    assert navigations == [], "the page reloaded"
    screenshot(page, "candidate-declined-by-default-1280")
    assert Application.objects.get(pk=application.pk).state == S.DECLINED
    assert browsing.problems == []


def test_support_pauses_an_entry_resumes_it_and_runs_it_now(browsing, redis_db):
    support = make_support_user(username="support-sam")
    name = "invariants_check"
    page = browsing.page(user=support)
    page.goto("/schedule/")
    entry = page.locator(f"#entry-{name}")
    try:
        entry.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Pause")
        page.get_by_role("button", name="Pause").click()  # the confirmation
        expect(banner(page, "is paused")).to_be_visible()
        expect(entry).to_contain_text("Paused")
        screenshot(page, "support-schedule-paused-1280")
        entry.get_by_role("button", name="Resume").click()
        expect(banner(page, "resumed")).to_be_visible()
        expect(entry.get_by_role("button", name="Pause")).to_be_visible()

        entry.get_by_role("button", name="Run now").click()
        enqueued = banner(page, "enqueued now as job")
        expect(enqueued).to_be_visible()
        job_id = re.search(r"as job (\S+?)\.", enqueued.inner_text()).group(1)
        # The page refreshes its figures by itself: the run goes from queued to finished in view.
        expect(page.locator("tr", has_text=job_id).first).to_contain_text("Finished", timeout=60_000)
        expect(entry).to_contain_text("Finished")
    finally:
        ClockState(redis_db).set_paused(name, False)  # the other tests share the clock
    assert browsing.problems == []


def test_a_provider_cannot_open_another_providers_application(browsing, with_password):
    theirs = make_application(state=S.AWAITING_PROVIDER_DECISION, submitted_at=timezone.now(),
                              candidate=make_user(username="private-candidate"),
                              reject_by_default_at=timezone.now() + LATER)
    outsider = make_provider_user(username="outsider")
    page = browsing.page(user=outsider)
    for path in (f"/{theirs.pk}/", f"/{theirs.pk}/make_offer/"):
        response = page.goto(path)
        assert response.status in (403, 404), (path, response.status)
        expect(page.locator("body")).not_to_contain_text("private-candidate")
    # A forged POST with a valid CSRF token (the outsider's own) is refused too.
    page.goto("/")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(f"/{theirs.pk}/make_offer/", headers={"X-CSRFToken": token})
    assert response.status in (403, 404), response.status
    assert Application.objects.get(pk=theirs.pk).state == S.AWAITING_PROVIDER_DECISION
