"""Sign-in throttling (django-axes): failures in a row lock out a username from one address,
on /login/ and on /admin/login/, with a 429 page saying when to try again and whom to ask."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from tests.factories import make_support_user, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "pass-word-123"  # the factories' default


def sign_in(client, username, password, *, url="/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_until_locked(client, username, *, url="/login/", **extra):
    """The limit's worth of wrong passwords: the form until the last, which is refused with 429."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, username, "wrong", url=url, **extra).status_code == 200
    response = sign_in(client, username, "wrong", url=url, **extra)
    assert response.status_code == 429
    return response


def assert_lockout_page(response):
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many attempts to sign in" in page
    assert "You can try again after" in page
    assert settings.SUPPORT_EMAIL in page
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))


def test_the_sign_in_page_locks_out_after_the_limit_and_refuses_the_right_password(client):
    user = make_user()
    assert_lockout_page(fail_until_locked(client, user.username))

    response = sign_in(client, user.username, PASSWORD)
    assert_lockout_page(response)
    assert not signed_in(client)


def test_the_admin_sign_in_locks_out_too(client):
    staff = make_support_user()
    assert_lockout_page(fail_until_locked(client, staff.username, url="/admin/login/"))

    assert_lockout_page(sign_in(client, staff.username, PASSWORD, url="/admin/login/"))
    assert not signed_in(client)


def test_the_page_says_when_in_london_time(client):
    user = make_user()
    with time_machine.travel(datetime(2026, 7, 1, 11, 0, tzinfo=UTC), tick=False):
        page = fail_until_locked(client, user.username).content.decode()
    assert "12:15" in page  # 11:00 UTC is 12:00 BST, plus the 15 minutes' cool-off


def test_another_username_from_the_same_address_and_the_same_username_from_another_are_not_locked(client):
    user, colleague = make_user(), make_user()
    fail_until_locked(client, user.username)

    assert sign_in(client, colleague.username, PASSWORD).status_code == 302
    client.logout()
    assert sign_in(client, user.username, PASSWORD, REMOTE_ADDR="192.0.2.7").status_code == 302


def test_a_forged_forwarded_for_header_does_not_dodge_the_lockout(client):
    """Direct connections (no trusted proxy): X-Forwarded-For is the client's own and is ignored."""
    user = make_user()
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, user.username, "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert sign_in(client, user.username, "wrong", HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429


def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    user = make_user()
    # The client forges the left entry; the proxy appends the address it saw.
    fail_until_locked(client, user.username, HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.5")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.5"}

    other_client = {"HTTP_X_FORWARDED_FOR": "203.0.113.1, 198.51.100.6"}
    assert sign_in(client, user.username, PASSWORD, **other_client).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client):
    user = make_user()
    fail_until_locked(client, user.username)
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_count(client):
    user = make_user()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, user.username, "wrong")
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, user.username, "wrong").status_code == 200


def test_support_unlocks_with_the_management_command(client):
    user = make_user()
    fail_until_locked(client, user.username)

    call_command("axes_reset_username", user.username, stdout=StringIO())

    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_support_unlocks_in_the_admin(client):
    user = make_user()
    fail_until_locked(client, user.username)
    [attempt] = AccessAttempt.objects.filter(username=user.username)

    support = make_support_user()
    assert support.has_perm("axes.delete_accessattempt")  # the Support group, as migration 0010 made it
    client.force_login(support)
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    client.logout()

    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_leaves_no_access_log_row(client):
    from axes.models import AccessLog

    user = make_user()
    sign_in(client, user.username, PASSWORD)
    assert signed_in(client)
    assert not AccessLog.objects.exists()


def test_a_failure_limit_below_one_refuses_to_start():
    import os
    import subprocess
    import sys

    env = {**os.environ, "AXES_FAILURE_LIMIT": "0", "DJANGO_SECRET_KEY": "x"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "AXES_FAILURE_LIMIT must be at least 1, got 0." in result.stderr
