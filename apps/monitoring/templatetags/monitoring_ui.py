"""Template tags for the pages: support's banner while a clock rule is paused.

Monitoring's, not the domain's: the paused rules come from ``apps.monitoring.health``,
which the apps below monitoring may not import. The site's templates load it by name
(``templates/base.html``, ``templates/admin/base_site.html``).
"""

from django import template
from redis.exceptions import RedisError

from apps.applications.auth import is_support
from apps.monitoring.context_processors import paused_for_request

register = template.Library()


@register.simple_tag(takes_context=True)
def paused_rules(context) -> list[str]:
    """The clock entries paused on the Schedule page, for a support user; [] for anyone else
    or when Redis does not answer (the pages that need Redis say so themselves)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_support(user):
        return []
    try:
        return paused_for_request(request)
    except RedisError:
        return []


@register.inclusion_tag("includes/support_banners.html", takes_context=True)
def support_banners(context):
    """On every support page: a banner while any clock entry is paused (it stays until resumed)."""
    return {"paused": paused_rules(context)}
