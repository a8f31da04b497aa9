import json

import django_rq
from django.conf import settings
from redis import Redis

#: One client, and so one connection pool, per configuration: django-rq's ``get_connection``
#: builds a new client (and opens a new TCP connection) on every call, paid by every Redis
#: read a page makes. redis-py's pool makes new connections in a forked child by itself.
_clients: dict[str, Redis] = {}


def redis_connection() -> Redis:
    """The Redis that holds the queues (and the clock's schedule and leases)."""
    key = json.dumps(settings.RQ_QUEUES.get("default"), sort_keys=True, default=str)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection("default")
    return client
