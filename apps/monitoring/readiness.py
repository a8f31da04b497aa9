"""Readiness: can this web process serve? The database answers with every migration applied,
and Redis answers. ``/healthz`` (apps.monitoring.liveness) stays the cheap liveness check."""

import logging

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.redis import redis_connection

logger = logging.getLogger(__name__)

#: Set once every migration is applied: the code of a running process does not change, so
#: the answer cannot turn false again (a later deploy is another process), and the probe
#: then costs one query instead of loading every migration file.
_all_applied = False


class NotReady(Exception):
    pass


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _migrations() -> None:
    global _all_applied
    if _all_applied:
        return
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:3])
        raise NotReady(f"{len(plan)} migration(s) not applied: {names}{'...' if len(plan) > 3 else ''}")
    _all_applied = True


def _redis() -> None:
    redis_connection().ping()


CHECKS = {"database": _database, "migrations": _migrations, "redis": _redis}


def readiness() -> dict[str, str]:
    """Every check's result: "ok" or "error: <what>". Migrations are not checked without a database."""
    results = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results["database"] != "ok":
            results[name] = "error: database unavailable"
            continue
        try:
            check()
            results[name] = "ok"
        except NotReady as exc:
            results[name] = f"error: {exc}"
        except Exception as exc:
            logger.warning("readiness: %s failed: %r", name, exc)
            results[name] = f"error: {type(exc).__name__}"
    return results
