"""Every main page, as each role sees it: it fits a 390 px phone screen without scrolling
sideways (with the Content-Security-Policy enforced and no console error), and axe-core
finds no serious or critical accessibility violation. With SCREENSHOTS=1 the phone test
also saves each page at 390 and 1280 px to docs/screenshots/."""

import importlib
from datetime import date, timedelta
from pathlib import Path

import axe_playwright_python
import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from apps.applications.actors import Actor
from apps.applications.models import ApplicationState, CycleChange, RecruitmentCycle
from apps.applications.timetables import non_working_period_add
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.factories import (
    make_application,
    make_course,
    make_cycle,
    make_provider,
    make_provider_user,
    make_rule_sets,
    make_support_user,
    make_user,
)

# One worker runs them all (--dist loadgroup): they share one stack and one browser per worker.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
]
S = ApplicationState
AXE_JS = Path(axe_playwright_python.__file__).parent / "axe.min.js"  # axe-core, bundled by the package
BLOCKING_IMPACTS = {"serious", "critical"}

# (role, page, path): {application} is the provider's application awaiting a decision.
PAGES = [
    ("anonymous", "login", "/login/"),
    ("provider", "list", "/"),
    ("provider", "application", "/{application}/"),
    ("candidate", "list", "/"),
    ("candidate", "application", "/{offer}/"),
    ("support", "list", "/"),
    ("support", "schedule", "/schedule/"),
    ("support", "health", "/support/health/"),
    ("support", "admin", "/admin/"),
    ("support", "jobs-dashboard", "/django-rq/"),
]
IDS = [f"{role}-{name}" for role, name, _ in PAGES]


def support_with_admin_rights():
    """The Support group as migrations 0010 and 0015 make it (a transactional test's flush emptied it)."""
    user = make_support_user(username="support")
    group = user.groups.get()
    migration = importlib.import_module("apps.applications.migrations.0010_support_group")
    for label, codenames in migration.PERMISSIONS.items():
        group.permissions.add(*Permission.objects.filter(content_type__app_label=label, codename__in=codenames))
    cycle_views = importlib.import_module("apps.applications.migrations.0015_support_views_cycle_changes")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="applications",
                                                     codename__in=cycle_views.CODENAMES))
    return user


@pytest.fixture
def world():
    """A provider with a few applications in different states, its user, a candidate and support."""
    now = timezone.now()
    provider = make_provider(name="Riverside Teaching School", code="RVS")
    courses = [
        make_course(provider=provider, name="Primary with mathematics", code="X100"),
        make_course(provider=provider, name="Secondary physics", code="F300"),
    ]
    candidate = make_user(username="ada-lovelace", first_name="Ada", last_name="Lovelace")
    application = make_application(candidate=make_user(username="grace-hopper"), course=courses[0],
                                   state=S.AWAITING_PROVIDER_DECISION, submitted_at=now - timedelta(days=3),
                                   reject_by_default_at=now + timedelta(days=25))
    offer = make_application(candidate=candidate, course=courses[1], state=S.OFFER, submitted_at=now - timedelta(days=9),
                             offered_at=now - timedelta(days=1), decline_by_default_at=now + timedelta(days=12))
    for n, (state, deadline) in enumerate([(S.INTERVIEWING, "reject_by_default_at"), (S.AWAITING_PROVIDER_DECISION, "reject_by_default_at"),
                                           (S.REJECTED, None), (S.ACCEPTED, None), (S.UNSUBMITTED, None)]):
        fields = {deadline: now + timedelta(days=4 + 6 * n)} if deadline else {}
        make_application(candidate=make_user(username=f"candidate-{n + 2}"), course=courses[n % 2], state=state,
                         submitted_at=None if state == S.UNSUBMITTED else now - timedelta(days=20 - n), **fields)
    make_application(state=S.AWAITING_PROVIDER_DECISION, submitted_at=now, reject_by_default_at=now + timedelta(days=28))
    users = {
        "anonymous": None,
        "provider": make_provider_user(provider=provider, username="rivers-admin"),
        "candidate": candidate,
        "support": support_with_admin_rights(),
    }
    # Next year's cycle, with no applications yet (its period moves no deadline), and its audit trail.
    make_rule_sets()
    cycle = make_cycle(year=application.cycle.year + 1)
    non_working_period_add(cycle_id=cycle.pk, actor=Actor(user=users["support"]), name="Christmas",
                           starts_on=date(cycle.year, 12, 21), ends_on=date(cycle.year + 1, 1, 1))
    return users, {"application": application.pk, "offer": offer.pk, "cycle": cycle.pk}


def open_page(browsing, world, role, path, **options):
    users, ids = world
    page = browsing.page(user=users[role], **options)
    response = page.goto(path.format(**ids))
    assert response.status == 200, f"{path}: {response.status}\n{browsing.stack.logs()}"
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    return page


@pytest.mark.parametrize(("role", "name", "path"), PAGES, ids=IDS)
def test_the_page_fits_a_phone_and_axe_finds_no_serious_violation(browsing, world, role, name, path):
    page = open_page(browsing, world, role, path, viewport=PHONE)
    if name == "health":
        expect(page.locator("#verdict")).not_to_be_empty()  # the overall verdict, in words
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    screenshot(page, f"{role}-{name}-390")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"{role}-{name}-1280")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 390 px wide"
    assert browsing.problems == [], "the page must work under the Content-Security-Policy"

    # The policy would block the injected axe-core script: this context alone bypasses it.
    page = open_page(browsing, world, role, path, viewport=PHONE, bypass_csp=True)
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)


def axe_violations(page, viewports=(PHONE, DESKTOP)) -> list[str]:
    """axe-core's serious and critical findings on the page as it is, at each width (the page's
    context must bypass the policy, which would block the injected script)."""
    violations = []
    for viewport in viewports:
        page.set_viewport_size(viewport)
        page.add_script_tag(path=str(AXE_JS))
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        violations += [
            f"{viewport['width']} px, {violation['impact']}: {violation['id']} ({violation['help']}) at "
            + ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:5])
            for violation in results["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
    return violations


def csrf_failure_page(browsing, *, bypass_csp=False):
    """The sign-in form sent after the browser's cookies were cleared: the CSRF failure page."""
    page = browsing.page(viewport=PHONE, bypass_csp=bypass_csp)
    page.goto("/login/")
    page.context.clear_cookies()
    page.get_by_label("Username").fill("someone")
    page.get_by_label("Password").fill("not-checked")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Your form was not sent")
    return page


def test_the_csrf_failure_page_is_the_service_s_own_and_fits_a_phone(browsing):
    page = csrf_failure_page(browsing)
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    screenshot(page, "anonymous-csrf-failure-390")
    assert overflow <= 0, f"the CSRF failure page scrolls sideways by {overflow} px at 390 px wide"
    # Chromium logs the document's own 403 as a console error; anything else is a problem.
    problems = [problem for problem in browsing.problems if "status of 403 (Forbidden) (http" not in problem]
    assert problems == [], "the page must work under the Content-Security-Policy"
    # Its way back: signing in again works from there.
    expect(page.get_by_role("link", name="Sign in again")).to_have_attribute("href", "http://127.0.0.1:%d/login/" % browsing.stack.port)

    violations = axe_violations(csrf_failure_page(browsing, bypass_csp=True))
    assert violations == [], "\n".join(violations)


ADMIN_PAGES = ["/admin/", "/admin/applications/application/", "/admin/applications/application/{application}/change/",
               "/admin/applications/chasersent/", "/admin/outbox/outboxemail/",
               "/admin/applications/recruitmentcycle/{cycle}/change/"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_support_s_admin_fits_1280_px_and_axe_finds_no_serious_violation(browsing, world, path):
    page = open_page(browsing, world, "support", path, viewport=DESKTOP)
    expect(page.locator("#site-name")).to_have_text("Apply: support admin")
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 1280 px wide"
    assert browsing.problems == [], "the page must work under the Content-Security-Policy"

    page = open_page(browsing, world, "support", path, viewport=DESKTOP, bypass_csp=True)
    violations = axe_violations(page, viewports=(DESKTOP,))
    assert violations == [], "\n".join(violations)


def test_a_cycle_date_out_of_order_is_refused_in_the_browser_on_its_field(browsing, world):
    """At 1280 px: the rule set and audit trail shown; a winter decline-by-default date before the
    winter reject-by-default date is refused on its field, and nothing changes. (Saving is proved
    through Django's test client, tests/apps/applications/admin/test_cycles.py: a save writes the
    admin's LogEntry, whose content type this shared stack's web process has cached from before
    the last test's flush.)"""
    users, ids = world
    cycle = RecruitmentCycle.objects.get(pk=ids["cycle"])
    page = open_page(browsing, world, "support", "/admin/applications/recruitmentcycle/{cycle}/change/",
                     viewport=DESKTOP)
    expect(page.get_by_text("2024 on: inactive after 30 working days")).to_be_visible()
    trail = page.locator("#changes-group")
    expect(trail).to_contain_text("Non-working period added")
    expect(trail).to_contain_text(users["support"].username)

    winter_rbd = timezone.localtime(cycle.winter_reject_by_default_date).date()
    page.get_by_label("Winter decline-by-default date: date").fill((winter_rbd - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".field-winter_decline_by_default_date .errorlist")).to_contain_text(
        f"Must be after the winter reject-by-default date ({winter_rbd.day} {winter_rbd:%B %Y}"
    )
    assert RecruitmentCycle.objects.get(pk=cycle.pk).dates() == cycle.dates()
    assert CycleChange.objects.count() == 1
    assert browsing.problems == [], "the page must work under the Content-Security-Policy"
