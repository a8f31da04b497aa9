"""The Redis connection every RQ queue (and so every client of the service) is built from.

Two forms, read from the environment by ``config/settings.py``:

- ``REDIS_URL`` alone: one Redis server (or a managed endpoint that fails over behind one
  name): django-rq's ``URL`` entry, as before.
- ``REDIS_SENTINELS`` (``host:port,host:port,...``) and ``REDIS_MASTER_NAME``: the current
  primary is asked of the Sentinels (redis-py's ``Sentinel.master_for``, which django-rq
  builds from ``SENTINELS`` and ``MASTER_NAME``), and asked again after every connection
  error, so clients follow a failover. ``REDIS_URL`` still gives the database number, the
  user and password (of the Redis servers; ``REDIS_SENTINEL_PASSWORD`` for the Sentinels
  if they have one) and TLS (``rediss://``, ``?ssl_ca_certs=``), for the servers and the
  Sentinels alike; its host and port are not used.

TCP keepalive is on for every connection, so a connection to a primary that vanished
without a reset (a host cut off, a failover behind a dead link) is found dead within
about 25 s instead of the kernel's two hours.
"""

import socket
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

#: Idle seconds before the first probe, seconds between probes, probes lost before the
#: connection counts as dead: about 10 + 5 x 3 = 25 s.
KEEPALIVE = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
#: A server that does not accept a connection within this long is skipped (a dead Sentinel,
#: a primary behind a cut link): the Sentinels are tried in turn.
CONNECT_TIMEOUT_SECONDS = 3


class _DropConnectionOnAnyError:
    """redis-py 8.1's Sentinel connection keeps a connection whose read was interrupted (its
    ``read_response`` defaults ``disconnect_on_error`` to False, the plain connection's to
    True): RQ's SIGTERM handler raises StopRequested inside the worker's blocking BLPOP, the
    connection goes back to the pool with the BLPOP still pending on the server, and the
    worker's next command on it (registering its death) waits for ever: a warm shutdown hung
    until SIGKILL. Dropping it, as the plain connection does, fixes that."""

    def read_response(self, *args, disconnect_on_error=True, **kwargs):
        return super().read_response(*args, disconnect_on_error=disconnect_on_error, **kwargs)


class SentinelConnection(_DropConnectionOnAnyError, SentinelManagedConnection):
    pass


class SentinelSSLConnection(_DropConnectionOnAnyError, SentinelManagedSSLConnection):
    pass


def _keepalive_options() -> dict:
    return {getattr(socket, name): value for name, value in KEEPALIVE.items() if hasattr(socket, name)}


def parse_sentinels(value: list[str]) -> list[tuple[str, int]]:
    """``["host:port", ...]`` as (host, port) pairs; a malformed one is a clear start-up error."""
    hosts = []
    for item in value:
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"REDIS_SENTINELS must be host:port pairs separated by commas, got {item!r}.")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def queue_connection(redis_url: str, sentinels: list[str], master_name: str | None,
                     sentinel_password: str | None = None) -> dict:
    """The connection part of each ``RQ_QUEUES`` entry."""
    if not sentinels:
        if master_name:
            raise ImproperlyConfigured("REDIS_MASTER_NAME is set but REDIS_SENTINELS is not: set both, or neither.")
        return {"URL": redis_url}
    if not master_name:
        raise ImproperlyConfigured("REDIS_SENTINELS is set: set REDIS_MASTER_NAME too (the Sentinels' name for the primary).")
    url = urlparse(redis_url)
    if url.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"REDIS_URL must start with redis:// or rediss://, got {url.scheme!r}.")
    path = url.path.lstrip("/")
    if path and not path.isdigit():
        raise ImproperlyConfigured(f"REDIS_URL's path must be a database number, got {path!r}.")
    common = {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "socket_keepalive_options": _keepalive_options(),
    }
    if url.scheme == "rediss":
        common["ssl"] = True
        common["ssl_cert_reqs"] = "required"
        ca = parse_qs(url.query).get("ssl_ca_certs")
        if ca:
            common["ssl_ca_certs"] = ca[0]
    sentinel_kwargs = {**common, "socket_timeout": CONNECT_TIMEOUT_SECONDS}
    common["connection_class"] = SentinelSSLConnection if url.scheme == "rediss" else SentinelConnection
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    return {
        "SENTINELS": parse_sentinels(sentinels),
        "MASTER_NAME": master_name,
        "DB": int(path or 0),
        "USERNAME": unquote(url.username) if url.username else None,
        "PASSWORD": unquote(url.password) if url.password else None,
        "CONNECTION_KWARGS": common,
        "SENTINEL_KWARGS": sentinel_kwargs,
    }
