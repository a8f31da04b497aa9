"""Template tags for the pages: state tags and the time left.

Support's paused-rule banner is monitoring's (``apps.monitoring.templatetags.monitoring_ui``).
The time left is a simple tag built in Python rather than an included template: a list page
shows it on every row, and an inclusion tag renders a template each time.
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.applications import wording

register = template.Library()

_NO_DEADLINE = mark_safe('<span class="secondary">–</span>')
_PASSED = mark_safe('<strong class="tag tag--passed countdown">Deadline passed</strong>')
_LAST_DAY = mark_safe('<strong class="tag tag--urgent countdown">Last day</strong>')


@register.filter
def state_tag(application) -> wording.Tag:
    """``{% with tag=application|state_tag %}<strong class="{{ tag.css }}">{{ tag.text }}</strong>{% endwith %}``."""
    return wording.state_tag(application)


@register.simple_tag
def countdown_tag(countdown, *, suffix="") -> SafeString:
    """The time left as words, styled by urgency (last day, deadline passed); ``suffix`` e.g. " left"."""
    if not countdown.deadline:
        return _NO_DEADLINE
    urgency = countdown.urgency
    if urgency == "passed":
        return _PASSED
    if urgency == "urgent":
        return _LAST_DAY
    if urgency == "soon":
        return format_html('<strong class="tag tag--yellow countdown">{}{}</strong>', countdown.label, suffix)
    return format_html('<span class="countdown">{}{}</span>', countdown.label, suffix)
