"""Rendering an outbox email: at write time (``outbox_emails_add``) or at delivery from a snapshot."""

from datetime import UTC, datetime

from django.template.loader import render_to_string

from apps.core.validators import one_line
from apps.outbox.models import OutboxEmail

SUBJECT_MAX_LENGTH = OutboxEmail._meta.get_field("subject").max_length


def email_subject(text: str) -> str:
    """One line whatever the data (a line break in a name made an email unsendable for good:
    BadHeaderError), and no longer than the column (long names made the write fail)."""
    subject = one_line(text)
    return subject if len(subject) <= SUBJECT_MAX_LENGTH else subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"


def email_render(template: str, context: dict) -> tuple[str, str, str]:
    context = {**context, "service_name": "Apply"}
    return (
        email_subject(render_to_string(f"emails/{template}_subject.txt", context)),
        render_to_string(f"emails/{template}.txt", context),
        render_to_string(f"emails/{template}.html", context),
    )


def _parse_moments(context: dict) -> dict:
    """Snapshot contexts keep datetimes as ISO text under keys ending in ``_at``; templates get datetimes."""
    parsed = {}
    for key, value in context.items():
        if isinstance(value, dict):
            value = _parse_moments(value)
        elif key.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        parsed[key] = value
    return parsed


def outbox_email_render(email: OutboxEmail) -> tuple[str, str, str]:
    """(subject, text body, HTML body): rendered now from a snapshot, or as rendered when written
    (the subject made one line again: a row may predate the rule)."""
    if email.template:
        return email_render(email.template, _parse_moments(email.context))
    return email_subject(email.subject), email.body_text, email.body_html
