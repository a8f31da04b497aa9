import django_rq
from redis import Redis


def redis_connection() -> Redis:
    """The Redis that holds the queues (and the clock's schedule and leases)."""
    return django_rq.get_connection("default")
