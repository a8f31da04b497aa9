"""Sign-in throttling (django-axes): the client address it counts by, and the page a
locked-out sign-in gets, on /login/ and /admin/login/ alike."""

import ipaddress
from math import ceil

from axes.helpers import get_cool_off
from django.conf import settings
from django.shortcuts import render
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
