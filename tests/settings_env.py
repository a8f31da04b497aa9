"""Loaded with ``-p`` before pytest-django reads the settings: the test environment.

Tests use their own Redis database number (15 by default, ``TEST_REDIS_URL`` to change),
never the local run's: the suite flushes it.
"""

import os

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

os.environ["REDIS_URL"] = TEST_REDIS_URL
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret")
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ.setdefault("LOG_FORMAT", "text")
