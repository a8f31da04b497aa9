"""/readyz: 200 when the database (every migration applied) and Redis answer; 503 naming what failed."""

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from apps.monitoring import readiness

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(readiness, "_all_applied", False)


def test_ready_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "redis": "ok"},
        "failed": [],
    }
    assert "no-cache" in response["Cache-Control"]


def test_an_unapplied_migration_is_not_ready(client):
    """A deploy whose new migration has not run yet (the outbox's latest, here)."""
    from django.db.migrations.loader import MigrationLoader

    latest = next(name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "outbox")
    # Recorded as unapplied inside the test's transaction (rolled back after it).
    MigrationRecorder(connection).record_unapplied("outbox", latest)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == f"error: 1 migration(s) not applied: outbox.{latest}"


def test_all_applied_is_remembered(client, django_assert_max_num_queries):
    assert client.get("/readyz").status_code == 200
    with django_assert_max_num_queries(1):  # SELECT 1; the migration plan is not read again
        assert client.get("/readyz").status_code == 200


def test_redis_down_is_not_ready_and_says_so(client, settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0"}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
    assert response.json()["checks"]["redis"] == "error: ConnectionError"


def test_readyz_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
