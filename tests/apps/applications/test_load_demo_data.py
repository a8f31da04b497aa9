"""The demo data covers every state and puts something inside every timed rule."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.applications.models import Application, ApplicationState, Provider
from apps.applications.selectors import application_ids_due_for_chaser, cycle_ids_to_close

pytestmark = pytest.mark.django_db
S = ApplicationState


def _load() -> str:
    out = StringIO()
    call_command("load_demo_data", "--force", stdout=out)  # tests run with DEBUG off
    return out.getvalue()


def test_demo_data_covers_every_state_and_rule_and_is_idempotent_for_the_base_data():
    first = _load()
    base = Application.objects.count()
    second = _load()

    assert Provider.objects.count() == 2
    assert "Demo users" in first and "Demo users" not in second
    assert Application.objects.count() == base + 6  # only the due-soon ones are added again
    states = set(Application.objects.values_list("state", flat=True))
    # application_not_sent comes from closing the previous cycle (below), as in a real run.
    assert set(S.values) - states == {S.APPLICATION_NOT_SENT}

    now = timezone.now()
    soon = now + timedelta(minutes=2)
    assert Application.objects.filter(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at__range=(now, soon)).count() == 8
    assert Application.objects.filter(state=S.OFFER, decline_by_default_at__range=(now, soon)).count() == 4
    far_enough = {"provider": "reject_by_default_at", "candidate": "decline_by_default_at"}
    for kind, field in far_enough.items():
        chased = Application.objects.filter(pk__in=application_ids_due_for_chaser(kind=kind, now=now, limit=100))
        assert chased.filter(**{f"{field}__gt": now + timedelta(days=1)}).exists(), kind
    [previous_cycle] = cycle_ids_to_close()
    assert Application.objects.filter(cycle_id=previous_cycle, state=S.UNSUBMITTED).count() == 1
    assert "close_cycle --year" in first


def test_demo_dates_agree_with_the_history():
    """Started before submitted, and each timeline event no earlier than the one before it;
    the submission event at the submission time the page shows."""
    from apps.applications.models import ApplicationEvent

    _load()
    for application in Application.objects.exclude(submitted_at=None):
        assert application.created_at < application.submitted_at, application.pk
        events = list(ApplicationEvent.objects.filter(application=application).order_by("created_at", "pk"))
        submit = next(event for event in events if event.kind == "submit")
        assert submit.created_at == application.submitted_at
        assert events[0].kind == "submit", [event.kind for event in events]
        if application.offered_at is not None:
            offer = next(event for event in events if event.kind == "make_offer")
            assert offer.created_at == application.offered_at
