"""Template tags for the pages: state tags and the time left.

Support's paused-rule banner is monitoring's (``apps.monitoring.templatetags.monitoring_ui``).
"""

from django import template

from apps.applications import wording

register = template.Library()


@register.filter
def state_tag(application) -> wording.Tag:
    """``{% with tag=application|state_tag %}<strong class="{{ tag.css }}">{{ tag.text }}</strong>{% endwith %}``."""
    return wording.state_tag(application)


@register.inclusion_tag("includes/countdown.html")
def countdown_tag(countdown, *, suffix=""):
    """The time left as words, styled by urgency (last day, deadline passed); ``suffix`` e.g. " left"."""
    return {"countdown": countdown, "suffix": suffix}
