"""Template tags for the pages: state tags, the time left, and support's paused-rule banner."""

from django import template
from redis.exceptions import RedisError

from apps.applications import wording
from apps.applications.auth import is_support

register = template.Library()


@register.filter
def state_tag(application) -> wording.Tag:
    """``{% with tag=application|state_tag %}<strong class="{{ tag.css }}">{{ tag.text }}</strong>{% endwith %}``."""
    return wording.state_tag(application)


@register.inclusion_tag("includes/countdown.html")
def countdown_tag(countdown, *, suffix=""):
    """The time left as words, styled by urgency (last day, deadline passed); ``suffix`` e.g. " left"."""
    return {"countdown": countdown, "suffix": suffix}


@register.simple_tag(takes_context=True)
def paused_rules(context) -> list[str]:
    """The clock entries paused on the Schedule page, for a support user; [] for anyone else
    or when Redis does not answer (the pages that need Redis say so themselves)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_support(user):
        return []
    from apps.monitoring.health import paused_entries

    try:
        return paused_entries()
    except RedisError:
        return []


@register.inclusion_tag("includes/support_banners.html", takes_context=True)
def support_banners(context):
    """On every support page: a banner while any clock entry is paused (it stays until resumed)."""
    return {"paused": paused_rules(context)}
