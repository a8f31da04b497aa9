"""Health: /healthz answers 200 when the database and Redis answer, 503 otherwise."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.redis import redis_connection

logger = logging.getLogger(__name__)


def _check(fn) -> str:
    try:
        fn()
        return "ok"
    except Exception as exc:
        logger.warning("health check failed: %s", exc)
        return f"error: {type(exc).__name__}"


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis():
    redis_connection().ping()


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check(_database), "redis": _check(_redis)}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    # Reported, not failed on: a missing clock must not get the web containers restarted.
    body["clock"] = _clock() if checks["redis"] == "ok" else "unknown"
    return JsonResponse(body, status=200 if healthy else 503)


def _clock() -> str:
    from django.utils import timezone

    from apps.scheduling.clock_state import clock_liveness

    try:
        return clock_liveness(redis_connection(), timezone.now())["status"]
    except Exception as exc:
        logger.warning("clock liveness unknown: %s", exc)
        return "unknown"
