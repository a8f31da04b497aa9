"""Loaded with ``-p`` before pytest-django reads the settings: the test environment.

Tests use their own Redis database number (15 by default, ``TEST_REDIS_URL`` to change),
never the local run's: the suite flushes it. The suite runs in several pytest-xdist
workers (``-n`` in pytest.ini); each worker flushes and fills a database of its own, the
given number minus the worker's index (gw0: 15, gw1: 14, gw2: 13), as pytest-django gives
each worker a test database of its own.
"""

import os

from urllib.parse import urlsplit


def _worker_redis_url(url: str, worker: str | None) -> str:
    """``url`` for the main process, the database ``index`` lower for xdist worker ``gw<index>``."""
    if not worker:
        return url
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - int(worker.removeprefix("gw"))
    if number < 1:
        raise RuntimeError(f"TEST_REDIS_URL={url}: xdist worker {worker} would get Redis database {number}; "
                           "give a higher database number or fewer workers (-n)")
    return parts._replace(path=f"/{number}").geturl()


TEST_REDIS_URL = _worker_redis_url(
    os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), os.environ.get("PYTEST_XDIST_WORKER")
)

os.environ["REDIS_URL"] = TEST_REDIS_URL
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret")
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ.setdefault("LOG_FORMAT", "text")
# No provider cap unless a test sets one (tests/apps/outbox/test_rate.py): the suite's
# processes send thousands of emails to loopback servers.
for _name in ("EMAIL_RATE_PER_SECOND", "EMAIL_RATE_PER_MINUTE", "EMAIL_DAILY_BUDGET"):
    os.environ.setdefault(_name, "0")
