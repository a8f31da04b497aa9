import json
import os

import django_rq
from django.conf import settings
from redis import Redis

#: One client, and so one connection pool, per process and configuration: django-rq's
#: ``get_connection`` builds a new client (and opens a new TCP connection) on every call,
#: which cost a page about a millisecond for each Redis read it makes.
_clients: dict[tuple[int, str], Redis] = {}


def redis_connection() -> Redis:
    """The Redis that holds the queues (and the clock's schedule and leases)."""
    key = (os.getpid(), json.dumps(settings.RQ_QUEUES.get("default"), sort_keys=True, default=str))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection("default")
    return client
