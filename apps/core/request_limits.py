"""Requests refused before anything reads them: a query string with a NUL byte (400), a
body over ``REQUEST_BODY_MAX_BYTES`` (413) and any upload (415: no form here has a file
field, so a file is never for us). Each gets a plain page saying what to do.

The checks run in ``__call__``, before any view or middleware reads ``request.POST`` or
``request.body``, so a body over the limit is never read from the socket, let alone written
to a temporary file: the declared length decides. A multipart body within the limit is
read in memory only (the settings' only upload handler keeps files there). Django's own
``DATA_UPLOAD_MAX_MEMORY_SIZE`` is the same limit.
"""

import logging

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

logger = logging.getLogger(__name__)


def _refusal(request, *, status: int, title: str, message: str):
    context = {"title": title, "message": message, "status": status}
    return render(request, "request_refused.html", context, status=status)


def _content_length(request) -> int | None:
    """The declared body length; None when the header is missing or not a whole number."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def _query_has_nul(request) -> bool:
    """A NUL byte in a query parameter's name or value, sent raw or as %00.

    No field of ours can hold one (a database refuses it, PostgreSQL with an error), so the
    request is refused as a whole rather than each view learning to say so.
    """
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


class RequestLimitsMiddleware:
    """400 for a NUL byte in the query string, 413 for a body over the limit, 415 for a file."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = self.refusal(request)
        if refused is not None:
            logger.warning(
                "refused %s %s: %s (%s bytes declared)",
                request.method, request.path, refused.status_code, request.META.get("CONTENT_LENGTH", ""),
            )
            return refused
        return self.get_response(request)

    def refusal(self, request):
        if _query_has_nul(request):
            return _refusal(
                request, status=400, title="This address is not valid",
                message="The address has a character no page here accepts (a NUL byte). "
                "Go back and try again, or start again from the list of applications.",
            )
        length = _content_length(request)
        if length is None:
            return _refusal(
                request, status=400, title="This request is not valid",
                message="Its Content-Length is not a whole number. Nothing has changed.",
            )
        limit = settings.REQUEST_BODY_MAX_BYTES
        if length > limit:
            return _refusal(
                request, status=413, title="What was sent is too large",
                message=f"This service accepts at most {limit:,} bytes in one form; this one was "
                f"{length:,}. Nothing has changed.",
            )
        if request.method == "POST" and request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/"):
            return self.upload_refusal(request)
        return None

    def upload_refusal(self, request):
        """A multipart form within the limit is read here, in memory (``FILE_UPLOAD_HANDLERS``
        keeps files there), and refused if it carries a file. Without one it is an ordinary
        form (what ``curl -F`` and Django's test client send); views read it as parsed here."""
        try:
            has_file = bool(request.FILES)
        except MultiPartParserError:
            return _refusal(
                request, status=400, title="This form could not be read",
                message="What was sent is not a valid form. Go back and send it again. Nothing has changed.",
            )
        if has_file:
            return _refusal(
                request, status=415, title="Files cannot be uploaded here",
                message="No page of this service takes a file. Go back, fill in the form without one "
                "and send it again. Nothing has changed.",
            )
        return None
