"""Sign-in throttling (django-axes): the client address it counts by, the page a
locked-out sign-in gets, on /login/ and /admin/login/ alike, and the lock that makes the
lockout's check and count one step per username and address."""

import hashlib
import ipaddress
from contextlib import contextmanager
from functools import cache
from math import ceil

from axes.helpers import get_cool_off
from django.conf import settings
from django.db import connection, transaction
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def client_ip(request) -> str | None:
    """The peer's address for a direct connection (``TRUSTED_PROXY_COUNT`` 0).

    Behind N trusted reverse proxies, each appending the address it saw to
    X-Forwarded-For, the client is the entry N hops from the right: the one the outermost
    proxy wrote. Entries further left are whatever the client sent, so they are never read.
    A header shorter than that, or an entry that is not an address, means the request did
    not come through the proxies as configured: the peer's address is used.
    """
    peer = request.META.get("REMOTE_ADDR")
    hops = settings.TRUSTED_PROXY_COUNT
    if not hops:
        return peer
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if len(forwarded) < hops or not _valid(forwarded[-hops]):
        return peer
    return forwarded[-hops]


def lockout_response(request, original_response=None, credentials=None):
    """HTTP 429: when to try again, and whom to ask. The wait counts from this attempt
    (each attempt while locked out starts it again), so "until" is exact."""
    cool_off = get_cool_off(request)
    context = {
        "minutes": ceil(cool_off.total_seconds() / 60),
        "until": timezone.now() + cool_off,
        "support_email": settings.SUPPORT_EMAIL,
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def _sign_in_key(username: str, address: str | None) -> int:
    """A signed 64-bit number for the (username, address) pair: PostgreSQL's advisory lock key."""
    digest = hashlib.blake2b(f"apply-sign-in\0{username}\0{address}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def sign_in_serialised(username: str, address: str | None):
    """One sign-in at a time for this username from this address, until its transaction ends.

    django-axes checks the lockout before the password and counts a failure after it; two
    guesses arriving together were both checked before either was counted. Inside this,
    the check, the password and the count are one step per pair: the next guess waits for
    the previous one's count to be committed, so at most ``AXES_FAILURE_LIMIT`` are checked
    however many arrive at once. PostgreSQL: a transaction-scoped advisory lock (released at
    commit or rollback, so it also holds through PgBouncer in transaction mode; a session
    lock would not). SQLite: the transaction is BEGIN IMMEDIATE (settings), the database's
    write lock, which serialises every sign-in (a local run's load).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_sign_in_key(username, address)])
        yield


class SignInLockMiddleware:
    """The POST of a sign-in form (``/login/``, ``/admin/login/``) runs inside ``sign_in_serialised``.

    Placed just before django-axes' middleware, after the request limits (which read a
    multipart body first, in memory). A POST without a username checks no password and
    runs as usual.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or request.path_info not in _sign_in_paths():
            return self.get_response(request)
        username = request.POST.get(settings.AXES_USERNAME_FORM_FIELD, "")
        if not username:
            return self.get_response(request)
        with sign_in_serialised(username, client_ip(request)):
            return self.get_response(request)


@cache
def _sign_in_paths() -> frozenset[str]:
    return frozenset((reverse("login"), reverse("admin:login")))
