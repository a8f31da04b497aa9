import logging
import re
import uuid

from django.shortcuts import render
from django.utils.cache import patch_cache_control
from redis.exceptions import RedisError

from apps.core.logging import ACCESS_LOG_USER_ID, request_id_var

logger = logging.getLogger(__name__)
# The 503 page's hint to clients and monitors: a restarting Redis is back well within it.
RETRY_AFTER_SECONDS = 30

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give each request an id (or keep a sane one from the proxy) for logs and responses."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            request.request_id = request_id
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            return response
        finally:
            request_id_var.reset(token)


class PrivateCacheMiddleware:
    """``Cache-Control: private, no-store`` on every response to a signed-in user.

    Their pages carry names, decisions and deadlines: no shared proxy may keep them, and
    the browser may not either (the back button after signing out on a shared computer).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class RedisUnavailableMiddleware:
    """A Redis error escaping a view is a 503 page that says what is down, not a 500.

    The staff pages that read Redis (Schedule, Health, the jobs dashboard) cannot work
    without it; the applications themselves live in the database and go on working.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RedisError):
            return None
        logger.error("redis unavailable for %s %s: %r", request.method, request.path, exception)
        context = {"read_only": request.method in ("GET", "HEAD")}
        response = render(request, "503.html", context, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class AccessLogUserMiddleware:
    """Put the signed-in user's id in the WSGI environ, for the access log line.

    The id only, never the user name (a name in every log line is personal data spread
    across the log store). Placed after AuthenticationMiddleware; the user is read after
    the view, so a sign-in or sign-out in this request logs who the user is at its end.
    ``request.user`` is evaluated anyway on every response (PrivateCacheMiddleware).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request.META[ACCESS_LOG_USER_ID] = str(user.pk)
        return response


class MethodNotAllowedPageMiddleware:
    """A 405 with no body of its own (Django's ``require_POST`` and the like, signing out by
    opening /logout/) gets a page in plain words; the ``Allow`` header stays."""

    #: How the page names the methods a URL takes.
    WORDS = {"POST": "a form's button", "GET": "opening it", "HEAD": "opening it"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.content:
            return response
        allowed = [method.strip() for method in response.get("Allow", "").split(",") if method.strip()]
        words = sorted({self.WORDS[method] for method in allowed if method in self.WORDS})
        page = render(request, "405.html", {"allowed": " or ".join(words)}, status=405)
        if "Allow" in response:
            page["Allow"] = response["Allow"]
        return page
