"""What monitoring adds to the pages of the apps below it (settings: ``TEMPLATES``).

Support's first page is the applications list (``apps.applications.views``), and it shows
what needs their attention: monitoring's verdict. The applications app sits below this
one and may not ask for it, so the verdict comes in from here, on that page only.
"""

from django.utils import timezone

from apps.applications.auth import is_support
from apps.applications.views import is_first_page
from apps.monitoring.health import support_attention


def support_attention_on_first_page(request) -> dict:
    """``attention``: what needs support's attention, on their first page; nothing on any other page."""
    if not is_first_page(request):
        return {}
    user = request.user
    if not user.is_authenticated or not is_support(user):
        return {}
    return {"attention": support_attention(now=timezone.now())}
