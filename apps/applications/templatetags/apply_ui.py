"""Template tags for the pages: state tags and the time left.

Support's paused-rule banner is monitoring's (``apps.monitoring.templatetags.monitoring_ui``).
The time left is a simple tag built in Python rather than an included template: a list page
shows it on every row, and an inclusion tag renders a template each time.
"""

import html

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from apps.applications import auth, wording

register = template.Library()

_NO_DEADLINE = mark_safe('<span class="secondary">–</span>')
_PASSED = mark_safe('<strong class="tag tag--passed countdown">Deadline passed</strong>')
_LAST_DAY = mark_safe('<strong class="tag tag--urgent countdown">Last day</strong>')


@register.simple_tag
def list_row(row, *, provider: bool = False, deadline_label: str = "Deadline", left_label: str = "Working days left"):
    """One ``<tr>`` of a list table from a ``views.ListRow``. A page has 25-35 rows of 6-7
    cells: each value is escaped with the standard library's ``html.escape``, which is what
    Django's ``escape`` does, without ``format_html``'s lazy-string checks per argument (a
    quarter of a list page's rendering). ``time_left`` is already safe HTML (``countdown_tag``)."""
    if row.deadline_iso:
        deadline = (f'<td data-label="{_e(deadline_label)}"><time datetime="{_e(row.deadline_iso)}">'
                    f"{_e(row.deadline_text)}</time></td>")
    else:
        deadline = f'<td data-label="{_e(deadline_label)}"><span class="secondary">No deadline</span></td>'
    provider_cell = f'<td data-label="Provider">{_e(row.provider)}</td>' if provider else ""
    return mark_safe(
        f'<tr><td data-label="Application"><a href="{_e(row.url)}">{row.pk:d}</a></td>'
        f'<td data-label="Candidate">{_e(row.candidate)}</td><td data-label="Course">{_e(row.course)}</td>'
        f'{provider_cell}<td data-label="State"><strong class="{_e(row.tag.css)}">{_e(row.tag.text)}</strong></td>'
        f'{deadline}<td data-label="{_e(left_label)}">{conditional_escape(row.time_left)}</td></tr>'
    )


def _e(text: str) -> str:
    return html.escape(str(text))


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
        return mark_safe(f'<strong class="tag tag--urgent countdown">Last day: {_e(left)} left</strong>')
    if urgency == "soon":
        return mark_safe(f'<strong class="tag tag--yellow countdown">{_e(countdown.label)}{_e(suffix)}</strong>')
    return mark_safe(f'<span class="countdown">{_e(countdown.label)}{_e(suffix)}</span>')
