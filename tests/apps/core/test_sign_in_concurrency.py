"""Parallel guesses do not beat the sign-in lock: 12 wrong passwords sent at once for one
username from one address are checked at most the limit's worth of times, and the right
password after them is refused.

Real concurrency: 12 threads, each its own client and database connection, released
together by a barrier, with production's password hasher (PBKDF2, which releases the GIL
while hashing: the window the probe's parallel guesses went through), which also counts
the passwords it checks. The answers alone cannot tell: without the lock every guess is
checked, and those counted past the limit are answered 429 all the same.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)
GUESSES = 12
PASSWORD = "the-right-password-42"
FORM_ERROR = "correct username and password"


class CountingPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Production's hasher (same algorithm, same hashes), noting the passwords it checks."""

    checked: set[str] = set()
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with self._lock:
            self.checked.add(password)
        return super().verify(password, encoded)


@pytest.fixture
def production_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingPBKDF2PasswordHasher"]
    CountingPBKDF2PasswordHasher.checked = set()
    return CountingPBKDF2PasswordHasher


def burst(url: str, username: str, *, address: str = "203.0.113.9") -> list:
    barrier = threading.Barrier(GUESSES, timeout=30)

    def guess(n: int):
        client = Client(REMOTE_ADDR=address)
        try:
            barrier.wait()
            response = client.post(url, {"username": username, "password": f"wrong-{n}"})
            return response.status_code, FORM_ERROR in response.content.decode()
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        return list(pool.map(guess, range(GUESSES), timeout=120))


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_simultaneous_wrong_passwords_are_checked_at_most_the_limit_and_the_right_one_is_refused(
    production_hasher, url
):
    user = make_user(username="target", password=PASSWORD, is_staff=True)

    answers = burst(url, user.username)

    limit = settings.AXES_FAILURE_LIMIT
    assert len(production_hasher.checked) == limit, answers  # guesses whose password was checked
    form_answers = [answer for answer in answers if answer == (200, True)]
    locked = [answer for answer in answers if answer[0] == 429]
    # The first limit - 1 guesses are answered by the form; the limit-th is checked and locks
    # the pair (429), and every later one is refused unchecked (429).
    assert len(form_answers) == limit - 1, answers
    assert len(locked) == GUESSES - (limit - 1), answers
    assert AccessAttempt.objects.filter(username=user.username).count() == 1

    right = Client(REMOTE_ADDR="203.0.113.9").post(url, {"username": user.username, "password": PASSWORD})
    assert right.status_code == 429
    # From another address the user is not locked out (the lock is on the pair).
    other = Client(REMOTE_ADDR="198.51.100.4")
    assert other.post(url, {"username": user.username, "password": PASSWORD}).status_code == 302


def test_guesses_for_different_usernames_do_not_wait_for_each_other_s_count(production_hasher):
    """Each pair has its own lock: a burst against one username leaves another's count alone."""
    make_user(username="target", password=PASSWORD)
    other = make_user(username="bystander", password=PASSWORD)

    burst("/login/", "target")

    assert not AccessAttempt.objects.filter(username=other.username).exists()
    assert Client(REMOTE_ADDR="203.0.113.9").post(
        "/login/", {"username": other.username, "password": PASSWORD}
    ).status_code == 302
