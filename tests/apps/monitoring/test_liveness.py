from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.redis import redis_connection
from apps.scheduling.clock_state import ClockState


@pytest.mark.django_db
def test_healthz_reports_database_redis_and_a_missing_clock(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}, "clock": "missing"}
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_healthz_reports_a_live_and_then_a_stale_clock(client):
    ClockState(redis_connection()).heartbeat("host-1", timezone.now())
    assert client.get("/healthz").json()["clock"] == "ok"
    ClockState(redis_connection()).heartbeat("host-1", timezone.now() - timedelta(seconds=30))
    assert client.get("/healthz").json()["clock"] == "stale"


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable(client, settings):
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in settings.RQ_QUEUES}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
    assert response.json()["clock"] == "unknown"
