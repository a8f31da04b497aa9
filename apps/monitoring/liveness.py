"""Liveness: is this process answering? The database and Redis respond (``/healthz``).

The clock's liveness is reported beside, never failed on: a missing clock must not get the
web containers restarted. ``apps.monitoring.readiness`` is the stricter check a load
balancer uses.
"""

import logging
from datetime import datetime

from django.db import connection

from apps.core.redis import redis_connection
from apps.scheduling.clock_state import clock_liveness

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


def liveness_checks() -> dict[str, str]:
    """Each check's result: "ok" or "error: <exception class>"."""
    return {"database": _check(_database), "redis": _check(_redis)}


def clock_status(*, now: datetime) -> str:
    """"ok", "stale", "missing" (apps.scheduling.clock_state), or "unknown" when Redis fails."""
    try:
        return clock_liveness(redis_connection(), now)["status"]
    except Exception as exc:
        logger.warning("clock liveness unknown: %s", exc)
        return "unknown"
