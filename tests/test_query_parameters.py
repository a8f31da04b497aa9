"""Every query parameter of every page, for every role, answers a clear 400 or a page with an
error, never a 500: generated values (hypothesis) as well as the cases a probe found.

The list page's parameters (state, q, sort, cursor) are generated as a probe would tamper
with them: any text, NUL bytes included, and cursors built from well-formed parts with
values at the edges (deadlines whose UTC value overflows, ids past 2**63, other sorts).
"""

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from apps.applications.forms import BAD_CURSOR
from apps.applications.models import ApplicationState
from tests.factories import make_application, make_course, make_provider, make_provider_user, make_support_user, make_user

pytestmark = pytest.mark.django_db

#: Examples per property: each is one request, and there are a few dozen properties.
EXAMPLES = 60
generated = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

#: Text a query string can carry (the test client encodes it as UTF-8; lone surrogates cannot be).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
edgy_text = st.one_of(
    any_text,
    st.sampled_from(["", "\x00", "a\x00b", "%00", "' OR 1=1 --", "🙂" * 30, "9" * 5000, "-1", "0", "1e9"]),
)


def token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
edge_moments = st.sampled_from([datetime.min, datetime.max, datetime(1, 1, 1, 10), datetime(9999, 12, 31, 12)])
moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
    st.one_of(edge_moments, st.datetimes()),
    offsets,
)
cursor_parts = st.tuples(
    st.sampled_from(["deadline", "newest", "other", ""]),
    st.sampled_from(["a", "b", "c"]),
    st.one_of(moments, st.just(""), any_text),
    st.one_of(st.integers(min_value=-5, max_value=2**64).map(str), any_text),
)
cursors = st.one_of(
    cursor_parts.map(lambda parts: token("~".join(parts))),
    any_text.map(token),
    edgy_text,
)
#: A cursor as ``Cursor.encode`` makes it but with any deadline, and the sort it belongs to.
well_formed_cursors = st.builds(
    lambda sort, direction, deadline, pk: {"sort": sort, "cursor": token(f"{sort}~{direction}~{deadline}~{pk}")},
    st.just("deadline"),
    st.sampled_from(["a", "b"]),
    st.one_of(moments, st.just("")),
    st.integers(min_value=1, max_value=2**63 - 1),
)
list_parameters = st.one_of(well_formed_cursors, st.fixed_dictionaries(
    {},
    optional={
        "state": st.one_of(st.sampled_from(ApplicationState.values), edgy_text),
        "q": edgy_text,
        "sort": st.one_of(st.sampled_from(["deadline", "newest"]), edgy_text),
        "cursor": cursors,
        "page": edgy_text,
    },
))
any_parameters = st.dictionaries(st.sampled_from(["page", "next", "q", "sort", "desc", "o", "p", "e", "x\x00"]), edgy_text, max_size=3)

ROLES = ["support", "provider", "candidate", "anonymous"]


@pytest.fixture
def world():
    provider = make_provider()
    provider_user = make_provider_user(provider=provider)
    candidate = make_user(username="cand")
    application = make_application(
        candidate=candidate, course=make_course(provider=provider), state=ApplicationState.AWAITING_PROVIDER_DECISION,
        submitted_at=datetime(2026, 11, 2, tzinfo=UTC), reject_by_default_at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC),
    )
    users = {"support": make_support_user(), "provider": provider_user, "candidate": candidate}
    return users, application


def client_for(world, role: str) -> Client:
    client = Client()
    users, _ = world
    if role != "anonymous":
        client.force_login(users[role])
    return client


def assert_clear_answer(response):
    assert response.status_code < 500, response.content[:2000]


@pytest.mark.parametrize(
    "raw",
    [
        "deadline~a~0001-01-01T00:00:00+14:00~5",  # the probe's case: before year 1 in UTC
        "deadline~b~0001-01-01T13:59:59+14:00~5",
        "deadline~a~9999-12-31T23:59:59-14:00~5",  # after year 9999 in UTC
        "deadline~a~9999-12-31T10:00:00-23:59~1",
        "deadline~a~2026-11-30T23:59:00+00:00~9223372036854775808",
    ],
)
@pytest.mark.parametrize("role", ["support", "provider", "candidate"])
def test_a_cursor_out_of_range_is_a_clear_error_on_the_page(world, role, raw):
    response = client_for(world, role).get("/", {"sort": "deadline", "cursor": token(raw)})

    assert response.status_code == 200
    assert BAD_CURSOR in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_the_list_page_never_fails_on_its_parameters(world, role):
    client = client_for(world, role)

    @generated
    @given(parameters=list_parameters)
    def check(parameters):
        response = client.get("/", parameters)
        assert_clear_answer(response)
        if role != "anonymous":
            assert response.status_code in (200, 400)

    check()


@pytest.mark.parametrize("role", ROLES)
def test_a_nul_byte_in_any_parameter_is_a_400_page(world, role):
    client = client_for(world, role)
    for name in ("state", "q", "sort", "cursor", "page", "next"):
        response = client.get("/", {name: "ab\x00c"})
        assert response.status_code == 400
        assert "This address is not valid" in response.content.decode()
    assert client.get("/login/", {"next": "/\x00/"}).status_code == 400


def _pages(application) -> list[str]:
    pk = application.pk
    return [
        f"/{pk}/", f"/{pk}/live/", f"/{pk}/withdraw/", f"/{pk}/make_offer/", "/login/", "/schedule/",
        "/support/health/", "/django-rq/", "/django-rq/queues/0/", "/django-rq/queues/0/finished/",
        "/admin/", "/admin/applications/application/", "/admin/outbox/outboxemail/",
    ]


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_every_other_page_never_fails_on_its_parameters(world, role):
    users, application = world
    if role == "superuser":
        client = Client()
        client.force_login(make_user(username="root", is_staff=True, is_superuser=True))
    else:
        client = client_for(world, role)
    pages = _pages(application)

    @generated
    @given(page=st.sampled_from(pages), parameters=any_parameters)
    def check(page, parameters):
        assert_clear_answer(client.get(page, parameters))

    check()


@pytest.mark.parametrize("role", ["support", "superuser"])
def test_the_admin_lists_never_fail_on_their_filters(world, role):
    client = Client()
    client.force_login(make_user(username="root", is_staff=True, is_superuser=True) if role == "superuser" else world[0]["support"])
    admin_parameters = st.dictionaries(
        st.sampled_from(["q", "o", "p", "e", "state__exact", "cycle__id__exact", "rejected_by_default__exact", "all"]),
        edgy_text,
        max_size=3,
    )

    @generated
    @given(page=st.sampled_from(["/admin/applications/application/", "/admin/applications/applicationevent/",
                                 "/admin/applications/course/", "/admin/outbox/outboxemail/"]),
           parameters=admin_parameters)
    def check(page, parameters):
        assert_clear_answer(client.get(page, parameters))

    check()
