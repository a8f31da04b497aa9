"""What monitoring adds to the pages of the apps below it (settings: ``TEMPLATES``).

Support's first page is the applications list (``apps.applications.views``), and it shows
what needs their attention: monitoring's verdict. The applications app sits below this
one and may not ask for it, so the verdict comes in from here, on that page only.
"""

from django.utils import timezone

from apps.applications.auth import is_support
from apps.applications.views import is_first_page
from apps.monitoring.health import paused_entries, support_attention


def paused_for_request(request) -> list[str]:
    """The paused clock entries, read from Redis once per request (the first page's verdict and
    every support page's banner both show them). Raises RedisError as ``paused_entries``."""
    paused = getattr(request, "_paused_entries", None)
    if paused is None:
        paused = request._paused_entries = paused_entries()
    return paused


def support_attention_on_first_page(request) -> dict:
    """``attention``: what needs support's attention, on their first page; nothing on any other page."""
    if not is_first_page(request):
        return {}
    user = request.user
    if not user.is_authenticated or not is_support(user):
        return {}
    return {"attention": support_attention(now=timezone.now(), paused=lambda: paused_for_request(request))}
