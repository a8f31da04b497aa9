"""Error pages: branded 403, 404 and 500; a 503 that says what is down when Redis does not
answer (never a 500); and a DEBUG page that shows no credentials."""

import html
import secrets
import sys

import pytest
from django.test import RequestFactory
from django.views import debug, defaults

from tests.conftest import free_port
from tests.factories import make_user

pytestmark = pytest.mark.django_db
STYLESHEET = "core/apply.css"


@pytest.fixture
def redis_unreachable(settings):
    """Every queue's Redis on a loopback port where nothing listens (the shared Redis runs on)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.RQ_QUEUES = {name: {**queue, "URL": url} for name, queue in settings.RQ_QUEUES.items()}
    return url


@pytest.fixture
def support(client):
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.mark.parametrize("url", ["/schedule/", "/support/health/", "/django-rq/"])
def test_staff_pages_answer_503_with_a_clear_page_when_redis_is_down(client, support, redis_unreachable, url):
    response = client.get(url)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "The job queue is not answering" in page
    assert "Nothing has changed: this page only reads." in page
    assert "/healthz" in page and STYLESHEET in page
    assert f"Signed in as <strong>{support.username}</strong>" in page  # the site's own page, not a bare error


def test_an_action_while_redis_is_down_says_it_was_not_done(client, support, redis_unreachable):
    response = client.post("/schedule/every_minute/run/")

    assert response.status_code == 503
    assert "What you asked for was not done, or not completely." in response.content.decode()


def test_not_found_is_the_branded_page(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Page not found</h1>" in page and STYLESHEET in page


def test_permission_denied_is_the_branded_page(client):
    client.force_login(make_user(is_staff=True))  # admin access, but no permission on users
    response = client.get("/admin/auth/user/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>You cannot see this page</h1>" in page and "Nothing has changed." in page
    assert STYLESHEET in page


def test_server_error_is_the_branded_page_without_any_context():
    # Django renders 500.html with an empty context and no request: nothing that failed runs again.
    response = defaults.server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Sorry, something went wrong</h1>" in page and STYLESHEET in page
    assert "Signed in as" not in page


# Made at run time: the page also shows the source lines around each frame.
PW = secrets.token_hex(8)


def _fail_with_credentials_in_scope(url):
    connection_kwargs = {"host": "db.internal", "password": f"dict-{PW}"}  # noqa: F841 (a local the page shows)
    raise RuntimeError("boom")


def test_debug_page_hides_urls_with_credentials(settings):
    settings.DEBUG = True
    settings.DATABASE_URL = f"postgres://apply:db-{PW}@db.internal:5432/apply"
    settings.REDIS_URL = f"redis://:redis-{PW}@cache.internal:6379/0"
    settings.RQ_QUEUES = {"default": {"URL": f"redis://:queue-{PW}@cache.internal:6379/0"}}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"rediss://user:cache-{PW}@cache.internal:6380/1",
        }
    }
    settings.EMAIL_HOST_PASSWORD = f"smtp-{PW}"
    # The development server copies the environment into request.META.
    request = RequestFactory().get("/", DATABASE_URL=f"postgres://apply:meta-{PW}@db.internal:5432/apply")
    try:
        _fail_with_credentials_in_scope(f"redis://:local-{PW}@cache.internal:6379/0")
    except RuntimeError:
        response = debug.technical_500_response(request, *sys.exc_info())

    page = response.content.decode()
    assert "<h1>RuntimeError" in page  # the technical page, rendered in full
    assert PW not in page
    # Still useful: which host each URL points at.
    assert "redis://********************@cache.internal:6379/0" in page
    assert "postgres://********************@db.internal:5432/apply" in page


def test_a_method_not_allowed_is_a_page_in_plain_words(client):
    user = make_user()
    client.force_login(user)

    response = client.get("/logout/")  # signing out takes the button (POST)

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    page = html.unescape(response.content.decode())
    assert "<h1>This page cannot do that</h1>" in page and STYLESHEET in page
    assert "it takes a form's button" in page and "Nothing has changed." in page


def test_the_pages_and_the_admin_link_a_favicon(client):
    assert 'rel="icon" href="/static/core/favicon.svg"' in client.get("/login/").content.decode()
    assert 'rel="icon" href="/static/core/favicon.svg"' in client.get("/admin/login/").content.decode()


def test_the_admin_speaks_the_service_s_words(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "x-pass-word-1"))
    page = client.get("/admin/").content.decode()

    assert "Apply: support admin" in page and "Django administration" not in page
    assert "Chasers sent" in page and "Chaser sents" not in page
    assert "Timeline events" in page
