"""Template tags for the pages: state tags and the time left.

Support's paused-rule banner is monitoring's (``apps.monitoring.templatetags.monitoring_ui``).
The time left is a simple tag built in Python rather than an included template: a list page
shows it on every row, and an inclusion tag renders a template each time.
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.applications import auth, wording

register = template.Library()

_NO_DEADLINE = mark_safe('<span class="secondary">–</span>')
_PASSED = mark_safe('<strong class="tag tag--passed countdown">Deadline passed</strong>')
_LAST_DAY = mark_safe('<strong class="tag tag--urgent countdown">Last day</strong>')


@register.simple_tag
def list_row(row, *, provider: bool = False, deadline_label: str = "Deadline", left_label: str = "Working days left"):
    """One ``<tr>`` of a list table from a ``views.ListRow``, built with ``format_html`` (as
    Django's admin builds its change list's cells): a page has 25 rows of 6-7 cells, each a
    variable lookup and an escape as template code."""
    if row.deadline_iso:
        deadline = format_html('<td data-label="{}"><time datetime="{}">{}</time></td>',
                               deadline_label, row.deadline_iso, row.deadline_text)
    else:
        deadline = format_html('<td data-label="{}"><span class="secondary">No deadline</span></td>', deadline_label)
    return format_html(
        '<tr><td data-label="Application"><a href="{}">{}</a></td><td data-label="Candidate">{}</td>'
        '<td data-label="Course">{}</td>{}<td data-label="State"><strong class="{}">{}</strong></td>{}'
        '<td data-label="{}">{}</td></tr>',
        row.url, row.pk, row.candidate, row.course,
        format_html('<td data-label="Provider">{}</td>', row.provider) if provider else "",
        row.tag.css, row.tag.text, deadline, left_label, row.time_left,
    )


@register.filter
def is_support(user) -> bool:
    """``{% if user|is_support %}``: the support role, as ``apps.applications.auth.is_support`` answers it."""
    return user.is_authenticated and auth.is_support(user)


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
        left = countdown.hours_and_minutes_left
        if not left:
            return _LAST_DAY
        return format_html('<strong class="tag tag--urgent countdown">Last day: {} left</strong>', left)
    if urgency == "soon":
        return format_html('<strong class="tag tag--yellow countdown">{}{}</strong>', countdown.label, suffix)
    return format_html('<span class="countdown">{}{}</span>', countdown.label, suffix)
