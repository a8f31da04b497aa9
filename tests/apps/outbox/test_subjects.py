"""Email subjects are one line whatever the names hold: names stored before they were checked
(``apps.core.validators``) must not make an email unsendable for good (BadHeaderError)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.models import ApplicationState
from apps.outbox.models import OutboxEmail, OutboxStatus
from apps.outbox.services import outbox_emails_deliver
from tests.factories import make_application, make_course, make_provider, make_user

pytestmark = pytest.mark.django_db
S = ApplicationState
JOB = Actor(job_name="jobs.applications.applications_reject_by_default", job_id="rbd-batch-test")
LINE_BREAKS = {
    "LF": "\n", "CRLF": "\r\n", "CR": "\r", "LS": "\u2028", "PS": "\u2029", "NEL": "\x85", "VT": "\x0b", "FF": "\x0c"
}


def _deliver_all():
    ids = list(OutboxEmail.objects.order_by("pk").values_list("pk", flat=True))
    return outbox_emails_deliver(email_ids=ids)


@pytest.mark.parametrize("line_break", LINE_BREAKS.values(), ids=LINE_BREAKS.keys())
def test_names_with_a_line_break_still_give_sendable_one_line_subjects(smtp, settings, line_break):
    """Rendered when written (submission, offer) and rendered at delivery from a snapshot (the timed rules)."""
    settings.APPLY_CANDIDATE_EMAIL_DELAY_SECONDS = 0
    provider = make_provider(name=f"North{line_break}Teach")
    course = make_course(provider=provider, name=f"{line_break}Maths {line_break} Physics", code=f"M{line_break}1")
    candidate = make_user(first_name=f"Ada{line_break}", last_name=f"Love{line_break}lace")
    now = timezone.now()
    submitted = make_application(course=course, candidate=candidate)
    services.application_submit(application_id=submitted.pk, actor=Actor(), now=datetime(2026, 11, 2, 10, tzinfo=UTC))
    offered = make_application(course=course, candidate=candidate, state=S.AWAITING_PROVIDER_DECISION)
    services.application_make_offer(application_id=offered.pk, actor=Actor(), now=now)
    rejected = make_application(
        course=course, candidate=candidate, state=S.AWAITING_PROVIDER_DECISION,
        reject_by_default_at=now - timedelta(minutes=1),
    )
    services.applications_reject_by_default(application_ids=[rejected.pk], actor=JOB)

    result = _deliver_all()

    assert (result.sent, result.failed) == (4, 0)
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
    assert sorted(message["Subject"] for message in smtp.messages) == sorted([
        f"New application {submitted.pk}: Maths Physics (M 1)",
        "Offer from North Teach: Maths Physics (M 1)",
        f"Application {rejected.pk} rejected automatically: Maths Physics (M 1)",
        "Your application to North Teach for Maths Physics was not successful",
    ])


def test_a_stored_subject_with_a_line_break_is_sent_on_one_line(smtp):
    """An email rendered when written, before subjects were made one line."""
    email = OutboxEmail.objects.create(
        key="offer:candidate:1", to=["c@example.com"], subject="Offer from North\r\nBcc: x@example.com", body_text="Hi"
    )
    result = outbox_emails_deliver(email_ids=[email.pk])
    assert (result.sent, result.failed) == (1, 0)
    [message] = smtp.messages
    assert message["Subject"] == "Offer from North Bcc: x@example.com"
    assert message["Bcc"] is None


def test_long_names_give_a_subject_that_fits_its_column_and_the_offer_is_made(smtp):
    """A 200-character provider and course name made the offer's subject longer than the
    outbox column (300): PostgreSQL refused the write and with it the offer."""
    course = make_course(provider=make_provider(name="P" * 200), name="C" * 200)
    application = make_application(course=course, state=S.AWAITING_PROVIDER_DECISION)

    services.application_make_offer(application_id=application.pk, actor=Actor(), now=timezone.now())

    email = OutboxEmail.objects.get(key=f"offer:candidate:{application.pk}")
    assert len(email.subject) == 300
    assert email.subject.startswith(f"Offer from {'P' * 200}: CCC")
    assert email.subject.endswith("C…")
    assert outbox_emails_deliver(email_ids=[email.pk]).sent == 1
