"""Every Redis client of the service is built here, from ``settings.RQ_QUEUES`` (one
connection config for all queues: a plain ``REDIS_URL``, or Sentinels and the primary's
name, see ``config/redis_settings.py``)."""

import json

import django_rq
from django.conf import settings
from redis import Redis
from rq import Queue

#: One client, and so one connection pool, per configuration: django-rq's ``get_connection``
#: builds a new client (and opens a new TCP connection) on every call, paid by every Redis
#: read a page makes (behind Sentinel, a question to the Sentinels too). redis-py's pool
#: makes new connections in a forked child by itself; behind Sentinel it asks the Sentinels
#: for the primary again whenever a connection fails or finds a read-only replica.
_clients: dict[str, Redis] = {}


def redis_connection() -> Redis:
    """The Redis that holds the queues (and the clock's schedule, leases, claims, metrics)."""
    key = json.dumps(settings.RQ_QUEUES.get("default"), sort_keys=True, default=str)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection("default")
    return client


def rq_queue_named(name: str) -> Queue:
    """django-rq's queue ``name`` (its timeout, job class and commit mode) on the one client."""
    return django_rq.get_queue(name, connection=redis_connection())
