"""The signed-in user comes with their provider membership: one query, not three, per request."""

import pytest
from django.contrib.auth import get_user
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_provider_user, make_support_user

pytestmark = pytest.mark.django_db


def test_the_user_is_loaded_with_the_provider_in_one_query(client):
    user = make_provider_user()
    client.force_login(user)
    request = client.get("/").wsgi_request  # a real request, with its session
    request.user = None
    with CaptureQueriesContext(connection) as queries:
        loaded = get_user(request)
        assert loaded.provider_user.provider.name == user.provider_user.provider.name
    assert len(queries) == 1  # the user with membership and provider (the session is loaded already)


def test_a_provider_page_costs_what_a_support_page_costs(client):
    counts = {}
    for role, user in (("support", make_support_user()), ("provider", make_provider_user())):
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        counts[role] = len(queries)
    assert counts["provider"] <= counts["support"], counts
