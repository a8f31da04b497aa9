"""List pages: keyset paging in both sorts for every role, search, the bounded count, queries per page."""

import base64
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.applications import calendars, selectors
from apps.applications.calendars import forget_display_calendars
from apps.applications.actors import Actor
from apps.applications.timetables import non_working_period_add
from apps.applications.forms import ApplicationFilterForm
from apps.applications.models import Application, ApplicationEvent, ApplicationState, Course, Provider
from apps.applications.selectors import Cursor, application_list
from apps.applications.working_days import end_of_london_day
from apps.core.redis import redis_connection
from apps.monitoring.health import ATTENTION_KEY
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
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ROLES = ["support", "provider", "candidate"]
SORTS = ["deadline", "newest"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@dataclass
class World:
    provider: Provider
    other_provider: Provider
    course: Course
    other_course: Course
    candidate: User
    provider_user: User
    support: User

    def user(self, role: str) -> User:
        return {"candidate": self.candidate, "provider": self.provider_user, "support": self.support}[role]


def end_of(day: int) -> datetime:
    return end_of_london_day(date(2026, 11, day))


def make_world(*, ties: int = 4) -> World:
    """Applications of two providers in every kind of state: deadlines in long ties, no deadline, drafts.

    Ids are deliberately not in deadline order, and one awaiting application lacks its
    deadline (an invariant breach the list must still show, with the rows without one).
    """
    provider, other_provider = make_provider(name="Alpha SCITT"), make_provider(name="Beta University")
    world = World(
        provider=provider,
        other_provider=other_provider,
        course=make_course(provider=provider, name="Physics with maths", code="3XK9"),
        other_course=make_course(provider=other_provider, name="History", code="V100"),
        candidate=make_user(username="cand"),
        provider_user=make_provider_user(provider=provider),
        support=make_support_user(),
    )
    others = [make_user(username=f"zoe-smith-{n}") for n in range(3)]
    cycle = make_cycle()
    specs = []
    for day in (20, 6, 13):
        specs += [dict(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=end_of(day))] * ties
    specs += [dict(state=S.INTERVIEWING, reject_by_default_at=end_of(6))] * 2
    specs += [dict(state=S.OFFER, reject_by_default_at=end_of(3), decline_by_default_at=end_of(13))] * 2
    specs += [dict(state=S.REJECTED, reject_by_default_at=end_of(4))] * 3  # no live deadline
    specs += [dict(state=S.WITHDRAWN)] * 2
    specs += [dict(state=S.AWAITING_PROVIDER_DECISION)]  # deadline missing
    specs += [dict(state=S.UNSUBMITTED)] * 2  # drafts: not for providers
    for n, spec in enumerate(specs):
        for course in (world.course, world.other_course):
            candidate = world.candidate if n % 3 == 0 else others[n % len(others)]
            make_application(candidate=candidate, course=course, cycle=cycle, **spec)
    return world


def expected_ids(user: User, sort: str, *, state: str = "") -> list[int]:
    """What the user may see, in the sort's order, worked out here in Python."""
    rows = Application.objects.all()
    if user.is_staff:
        pass
    elif hasattr(user, "provider_user"):
        rows = rows.filter(course__provider=user.provider_user.provider).exclude(state=S.UNSUBMITTED)
    else:
        rows = rows.filter(candidate=user)
    if state:
        rows = rows.filter(state=state)
    rows = list(rows.values_list("pk", "deadline_at"))
    if sort == "newest":
        return sorted((pk for pk, _ in rows), reverse=True)
    with_deadline = sorted((deadline, pk) for pk, deadline in rows if deadline is not None)
    return [pk for _, pk in with_deadline] + sorted(pk for pk, deadline in rows if deadline is None)


def walk(user: User, *, sort: str, state: str = "", query: str = "", size: int = 3):
    """Every page from the first by Next, then back to the first by Previous: (forward pages, backward pages)."""
    pages = [application_list(user=user, sort=sort, state=state, query=query, size=size)]
    while pages[-1].next is not None:
        assert len(pages) < 100
        pages.append(application_list(user=user, sort=sort, state=state, query=query, cursor=pages[-1].next, size=size))
    back = [pages[-1]]
    while back[-1].previous is not None:
        assert len(back) < 100
        back.append(
            application_list(user=user, sort=sort, state=state, query=query, cursor=back[-1].previous, size=size)
        )
    ids = [[application.pk for application in page.applications] for page in pages]
    back_ids = [[application.pk for application in page.applications] for page in back]
    return ids, back_ids


# --- Keyset paging ----------------------------------------------------------------


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("role", ROLES)
def test_paging_walks_every_row_once_in_order_and_back(role, sort):
    world = make_world()
    user = world.user(role)
    expected = expected_ids(user, sort)
    assert len(expected) > 9  # several pages of 3

    pages, back = walk(user, sort=sort)

    assert [pk for page in pages for pk in page] == expected
    assert all(len(page) == 3 for page in pages[:-1])
    # Previous goes back through the same pages to the first, which has no Previous.
    assert back == list(reversed(pages))


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(
    "state", [S.AWAITING_PROVIDER_DECISION, S.OFFER, S.REJECTED, S.WITHDRAWN, S.UNSUBMITTED, S.RECRUITED]
)
@pytest.mark.parametrize("role", ["support", "provider"])
def test_paging_with_a_state_filter(role, state, sort):
    world = make_world()
    user = world.user(role)

    pages, back = walk(user, sort=sort, state=state, size=2)

    assert [pk for page in pages for pk in page] == expected_ids(user, sort, state=state)
    assert back == list(reversed(pages))


def test_deadline_sort_puts_ties_in_id_order_and_rows_without_a_live_deadline_last():
    world = make_world(ties=5)
    ids = [pk for page in walk(world.support, sort="deadline", size=4)[0] for pk in page]
    rows = dict(Application.objects.values_list("pk", "deadline_at"))
    deadlines = [rows[pk] for pk in ids]
    first_none = deadlines.index(None)
    assert all(deadline is None for deadline in deadlines[first_none:])
    assert deadlines[:first_none] == sorted(deadlines[:first_none])
    tie = [pk for pk in ids if rows[pk] == end_of(6)]
    assert len(tie) == 5 * 2 + 2 * 2  # awaiting and interviewing, both providers
    assert tie == sorted(tie)
    # An offer's live deadline is its decline-by-default date; a rejected one has none.
    offer = Application.objects.filter(state=S.OFFER).first()
    assert rows[offer.pk] == end_of(13)
    assert rows[Application.objects.filter(state=S.REJECTED).first().pk] is None


def test_provider_never_sees_another_providers_or_unsubmitted_applications():
    world = make_world()
    for sort in SORTS:
        for state in ["", S.UNSUBMITTED]:
            for query in ["", "zoe-smith", "history", "v100"]:
                pages, _ = walk(world.provider_user, sort=sort, state=state, query=query)
                seen = Application.objects.filter(pk__in=[pk for page in pages for pk in page])
                assert not seen.exclude(provider=world.provider).exists()
                assert not seen.filter(state=S.UNSUBMITTED).exists()


def test_previous_from_a_page_whose_rows_before_it_went_shows_the_first_page():
    world = make_world()
    first = application_list(user=world.support, sort="newest", size=3)
    second = application_list(user=world.support, sort="newest", cursor=first.next, size=3)
    Application.objects.filter(pk__in=[a.pk for a in first.applications[:2]]).delete()

    back = application_list(user=world.support, sort="newest", cursor=second.previous, size=3)

    assert back.previous is None
    assert [a.pk for a in back.applications] == expected_ids(world.support, "newest")[:3]


@pytest.mark.parametrize("before", [False, True])
def test_a_cursor_from_a_run_the_filter_excludes_still_pages(before):
    """A link edited to another state keeps a cursor with a deadline; rejected rows have none."""
    world = make_world()
    cursor = Cursor(sort="deadline", pk=1, deadline=end_of(6), before=before)

    page = application_list(user=world.support, sort="deadline", state=S.REJECTED, cursor=cursor, size=3)

    assert [a.pk for a in page.applications] == expected_ids(world.support, "deadline", state=S.REJECTED)[:3]


# --- Cursors in links -------------------------------------------------------------


def listed_ids(response) -> list[int]:
    return [application.pk for application, _ in response.context["rows"]]


def link(content: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', content)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.mark.parametrize("sort", SORTS)
def test_next_and_previous_links_page_through_the_list_keeping_the_sort(client, sort):
    world = make_world(ties=12)
    client.force_login(world.support)
    expected = expected_ids(world.support, sort)
    assert len(expected) > 50

    pages, url = [], f"?sort={sort}"
    while url:
        response = client.get("/" + url)
        pages.append((url, listed_ids(response)))
        url = link(response.content.decode(), "next")
        if url:
            assert url.startswith(f"?sort={sort}&cursor=")
    assert [pk for _, ids in pages for pk in ids] == expected
    assert [len(ids) for _, ids in pages[:-1]] == [25] * (len(pages) - 1)

    previous = link(client.get("/" + pages[-1][0]).content.decode(), "prev")
    assert listed_ids(client.get("/" + previous)) == pages[-2][1]


def test_the_count_is_bounded(client, monkeypatch):
    world = make_world()
    client.force_login(world.support)
    total = Application.objects.count()
    assert f"<caption>{total} applications</caption>" in client.get("/").content.decode()

    monkeypatch.setattr(selectors, "COUNT_LIMIT", 5)
    with CaptureQueriesContext(connection) as captured:
        content = client.get("/").content.decode()
    assert "<caption>More than 5 applications</caption>" in content
    count_sql = next(q["sql"] for q in captured if "COUNT(" in q["sql"].upper())
    assert "LIMIT 6" in count_sql


def encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        encode("deadline~a~2026-11-20T23:59:59.999999+00:00"),
        encode("deadline~x~~12"),
        encode("newest~a~~-1"),
        encode("newest~a~~99999999999999999999999"),
        encode("deadline~a~2026-11-20T23:59:59~12"),  # no time zone
        encode("deadline~a~yesterday~12"),
        encode("newest~a~2026-11-20T23:59:59+00:00~12"),
        encode("deadline~a~~٣"),
        encode("newest~a~~12"),  # a cursor of the newest sort, used with the deadline sort
        "x" * 300,
    ],
)
def test_a_bad_cursor_is_a_clear_error_not_a_server_error(client, cursor):
    world = make_world()
    client.force_login(world.support)
    response = client.get("/", {"cursor": cursor, "sort": "deadline"})

    assert response.status_code == 200
    assert listed_ids(response) == []
    content = response.content.decode()
    assert "There is a problem with the filters" in content
    assert "This page link is not valid or is out of date. Start again from the first page." in content
    assert 'href="?sort=deadline"' in content  # the first page, filters kept


def test_cursor_round_trip():
    deadline = end_of(20)
    for cursor in [
        Cursor(sort="deadline", pk=7, deadline=deadline),
        Cursor(sort="deadline", pk=7, before=True),
        Cursor(sort="newest", pk=2**62, before=True),
    ]:
        assert Cursor.decode(cursor.encode()) == cursor
    assert "=" not in Cursor(sort="deadline", pk=7, deadline=deadline).encode()


# --- Search -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("zoe-smith-1", lambda a: a.candidate.username == "zoe-smith-1"),
        ("ZOE-SMITH-2@EXAMPLE", lambda a: a.candidate.email == "zoe-smith-2@example.com"),
        ("cand@example.com", lambda a: a.candidate.username == "cand"),
        ("with Math", lambda a: a.course.name == "Physics with maths"),
        ("3xk9", lambda a: a.course.code == "3XK9"),
        ("v100", lambda a: a.course.code == "V100"),
        ("3xk", lambda a: False),  # a code matches whole, not in part
    ],
)
def test_search_by_candidate_username_or_email_or_course_name_or_code(role, query, matches):
    world = make_world()
    user = world.user(role)
    visible = Application.objects.filter(pk__in=expected_ids(user, "newest")).select_related("candidate", "course")
    expected = sorted((a.pk for a in visible if matches(a)), reverse=True)

    pages, _ = walk(user, sort="newest", query=query)

    assert [pk for page in pages for pk in page] == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram indexes are PostgreSQL's")
def test_a_candidate_search_reads_one_trigram_index_over_username_and_email():
    make_world()
    query = User.objects.annotate(search=selectors.CandidateSearchText()).filter(
        search__contains=selectors.Upper(selectors.Value("smith-2@exa"))
    ).values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is small enough to scan
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "auth_user_search_trgm" in plan, plan


@pytest.mark.parametrize("query", ["ab", "a.b", " x1 ", "é-é"])
def test_a_search_needs_three_letters_or_numbers_in_a_row(client, query):
    world = make_world()
    client.force_login(world.support)
    response = client.get("/", {"q": query})
    assert listed_ids(response) == []
    assert "Search: Enter at least 3 letters or numbers in a row" in response.content.decode()
    assert listed_ids(client.get("/", {"q": "éèà"})) == []  # three letters: a search, no match


def test_a_search_matching_too_many_candidates_or_courses_asks_for_more(client, monkeypatch):
    world = make_world()
    client.force_login(world.support)
    monkeypatch.setattr(selectors, "SEARCH_MAX_CANDIDATES", 2)
    response = client.get("/", {"q": "zoe-smith"})
    assert listed_ids(response) == []
    content = response.content.decode()
    assert "There is a problem with the filters" in content
    assert "“zoe-smith” matches more than 2 candidates. Search for more of the name or email address." in content
    assert listed_ids(client.get("/", {"q": "zoe-smith-1"}))

    monkeypatch.setattr(selectors, "SEARCH_MAX_COURSES", 1)
    make_course(provider=world.provider, name="History of art", code="W100")
    assert "matches more than 1 courses" in client.get("/", {"q": "history"}).content.decode()
    # A provider's search finds only their own courses: one History course, so not too many.
    client.force_login(world.provider_user)
    assert "matches more than" not in client.get("/", {"q": "history"}).content.decode()


# --- Queries per page -------------------------------------------------------------

#: A provider's decisions due (one query per awaiting state, and their calendars); support's
#: attention panel when its snapshot has expired (the overdue deadlines and the latest
#: invariant check; ``apps.monitoring.health.support_attention``).
FIRST_PAGE_EXTRA_QUERIES = {"support": 4, "provider": 3, "candidate": 0}


def queries_for(client, url) -> int:
    redis_connection().delete(ATTENTION_KEY)  # every count with the attention snapshot expired
    forget_display_calendars()  # and with no calendar kept from the request before
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["rows"]
    return len(captured)


@pytest.mark.parametrize("role", ROLES)
def test_queries_per_page_do_not_grow_with_rows(client, role):
    """A page of 25 rows costs the queries a page of 5 does (pages that span both runs of the deadline sort)."""
    provider = make_provider()
    candidate = make_user()
    user = {"support": make_support_user(), "provider": make_provider_user(provider=provider), "candidate": candidate}
    client.force_login(user[role])
    course = make_course(provider=provider)
    cycles = [make_cycle(year=2026), make_cycle(year=2027)]

    def add(n):
        for i in range(n):
            state = S.AWAITING_PROVIDER_DECISION if i % 2 else S.REJECTED
            make_application(
                candidate=candidate, course=course, cycle=cycles[i % 2], state=state, reject_by_default_at=end_of(5 + i)
            )

    urls = ["/", "/?sort=newest", "/?state=awaiting_provider_decision"]
    urls += [f"/?q={candidate.username}", f"/?q={course.name}"]
    add(5)
    few = {url: queries_for(client, url) for url in urls}
    Application.objects.all().delete()
    add(25)
    many = {url: queries_for(client, url) for url in urls}
    assert many == few
    # The first page ("/") of a provider or support also reads what is due or wrong (a
    # provider's decisions due, support's attention panel): a few queries more, as fixed.
    assert max(count for url, count in few.items() if url != "/") <= 10
    assert few["/"] <= 10 + FIRST_PAGE_EXTRA_QUERIES[role]


def test_detail_page_is_one_read_and_the_timeline(client):
    world = make_world()
    application = Application.objects.filter(provider=world.provider, state=S.OFFER).first()
    client.force_login(world.provider_user)

    def queries() -> int:
        forget_display_calendars()
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/{application.pk}/").status_code == 200
        return len(captured)

    before = queries()
    for kind in ["submit", "interview", "make_offer"]:
        ApplicationEvent.objects.create(application=application, kind=kind, actor_user=world.provider_user)
    assert queries() == before


def _time_left(client, url) -> str:
    row = client.get(url).context["table_rows"][0]
    return re.sub(r"<[^>]+>", "", row.time_left)


def test_time_left_words_follow_a_period_added_here_at_once_and_elsewhere_within_the_kept_time(client, monkeypatch):
    """A list page's "N working days" comes from a calendar kept per process
    (``calendars.DISPLAY_CALENDAR_SECONDS``): a period added in this process shows at once
    (signals clear the copy); a copy another process changed under it is kept no longer than that."""
    cycle = make_cycle(year=2026)
    make_application(cycle=cycle, state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=end_of(30))
    client.force_login(make_support_user())
    url = "/?state=awaiting_provider_decision"
    assert _time_left(client, url) == "20 working days"  # Mon 2 Nov to Mon 30 Nov 2026

    non_working_period_add(cycle_id=cycle.pk, actor=Actor(), name="Closed", starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 13))
    assert _time_left(client, url) == "15 working days"

    # Another process's change: the rows change under this process, no signal here.
    calendars.NonWorkingPeriod.objects.filter(cycle=cycle).update(ends_on=date(2026, 11, 10))
    assert _time_left(client, url) == "15 working days"  # the kept copy, within its time
    monkeypatch.setattr(calendars, "DISPLAY_CALENDAR_SECONDS", 0.0)
    assert _time_left(client, url) == "18 working days"


def test_filter_form_fields_render_once_per_value_and_never_show_another_value():
    """The filter form's widgets are rendered once per (name, value, attributes, choices) and
    kept: the same input gives the same HTML as Django's own rendering, another input its own."""
    def html(data):
        form = ApplicationFilterForm(data)
        form.is_valid()
        return "".join(str(field) for field in form.visible_fields())

    fresh = html({"state": "offer", "q": "smith"})
    assert 'value="offer" selected' in fresh and 'value="smith"' in fresh
    assert html({"state": "offer", "q": "smith"}) == fresh
    other = html({"state": "rejected", "q": "<b>jones</b>"})
    assert 'value="rejected" selected' in other and 'value="offer" selected' not in other
    assert "&lt;b&gt;jones&lt;/b&gt;" in other and "<b>" not in other


@pytest.mark.parametrize("role", ["support", "provider"])
def test_list_rows_escape_what_people_typed(client, role):
    provider = make_provider(name='Leeds & "Sons" <i>')
    course = make_course(provider=provider, name="Maths <b>bold</b> & 'Stats'", code="M<1>")
    make_application(course=course, state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=end_of(20))
    client.force_login(make_support_user() if role == "support" else make_provider_user(provider=provider))
    body = client.get("/?state=awaiting_provider_decision").content.decode()
    assert "Maths &lt;b&gt;bold&lt;/b&gt; &amp; &#x27;Stats&#x27; (M&lt;1&gt;)" in body
    assert "<b>bold</b>" not in body and "<i>" not in body
    if role == "support":
        assert "Leeds &amp; &quot;Sons&quot; &lt;i&gt;" in body
