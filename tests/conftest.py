import pytest
from redis import Redis

from tests.settings_env import TEST_REDIS_URL


def _test_redis() -> Redis:
    connection = Redis.from_url(TEST_REDIS_URL)
    db = connection.connection_pool.connection_kwargs.get("db", 0)
    if db == 0:
        pytest.exit("TEST_REDIS_URL points at Redis database 0; tests flush their database, use another number.")
    return connection


@pytest.fixture(autouse=True)
def redis_db():
    """A clean test Redis database for every test."""
    connection = _test_redis()
    connection.flushdb()
    yield connection
    connection.flushdb()
