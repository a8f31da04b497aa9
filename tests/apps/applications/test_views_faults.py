"""A web request whose change commits still answers normally when Redis is down; the
outbox row waits for the delivery sweep."""

import pytest

from apps.applications.models import ApplicationState
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.factories import make_application

pytestmark = pytest.mark.django_db(transaction=True)


def test_submit_commits_and_redirects_when_redis_is_down(client, settings, caplog):
    application = make_application()
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in settings.RQ_QUEUES}
    client.force_login(application.candidate)

    response = client.post(f"/{application.pk}/submit/")

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == ApplicationState.AWAITING_PROVIDER_DECISION
    email = OutboxEmail.objects.get(key=f"submitted:provider:{application.pk}")
    assert email.status == OutboxStatus.PENDING
    assert "enqueue after commit failed" in caplog.text
