"""Leases in Redis: held by a token, renewed by their owner, released only by their owner.

A lease left by a killed process expires after its ttl; nobody else can release or
extend it early, so a slow owner never loses it to someone else's ``DEL``.
"""

import secrets
from contextlib import contextmanager

from redis import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class Lease:
    def __init__(self, connection: Redis, name: str, ttl_seconds: float):
        self.connection = connection
        self.key = f"apply:lease:{name}"
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = secrets.token_hex(16)

    def acquire(self) -> bool:
        return bool(self.connection.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        return bool(self.connection.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> bool:
        return bool(self.connection.eval(_RELEASE, 1, self.key, self.token))


@contextmanager
def held_lease(connection: Redis, name: str, ttl_seconds: float):
    """Yield True while holding the lease, False if someone else holds it."""
    lease = Lease(connection, name, ttl_seconds)
    acquired = lease.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            lease.release()
