"""The page a form sent without a valid CSRF token gets (``CSRF_FAILURE_VIEW``).

Anyone whose cookies were cleared, or who sends a form from a page left open past its
session, meets it: the service's own page (its styles, within the Content-Security-Policy,
fitting a phone), saying in plain words what happened and what to do, with a link back to
the page the form came from, or to sign in again.
"""

import logging
from urllib.parse import urlsplit

from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

logger = logging.getLogger(__name__)


def _page_the_form_came_from(request) -> str:
    """The Referer when it is one of our own pages (never another site's), else the list."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("applications:list")


def csrf_failure(request, reason: str = "", template_name: str = "403_csrf.html"):
    """403 with the service's page; Django's reason goes to the log, not to the person."""
    logger.warning("csrf check failed for %s %s: %s", request.method, request.path, reason)
    back = _page_the_form_came_from(request)
    signed_in = request.user.is_authenticated if hasattr(request, "user") else False
    login = reverse("login")
    if signed_in:
        sign_in = ""
    elif urlsplit(back).path == login:  # the sign-in form itself: back to it, as it was
        sign_in = back
    else:
        sign_in = f"{login}?{urlencode({'next': urlsplit(back).path})}"
    reason = reason.lower()
    context = {
        "back": back,
        "signed_in": signed_in,
        "sign_in": sign_in,
        "cause": "cookie" if "cookie" in reason else "origin" if ("origin" in reason or "referer" in reason) else "token",
    }
    return render(request, template_name, context, status=403)
