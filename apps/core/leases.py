"""Leases in Redis: held by a token, renewed by their owner, released only by their owner.

A lease left by a killed process expires after its ttl; nobody else can release or
extend it early, so a slow owner never loses it to someone else's ``DEL``.

**Fencing.** A process paused past its ttl (a VM freeze, SIGSTOP, a long GC) or cut off
from Redis resumes believing it still holds the lease, while another may have taken it.
Work done under a lease is therefore guarded, not only started, by it:

- ``lease.check()`` raises ``LeaseLost`` when the lease is no longer surely ours: its ttl
  has run out by this process's own monotonic clock (which keeps counting while the
  process is stopped), or the key no longer holds our token;
- ``lease.renew()`` extends it (only if still ours: one Lua call) or raises ``LeaseLost``;
- ``lease.guarded(pipe)`` makes a Redis write conditional on the lease: WATCH on the key
  and the token checked before MULTI, so an EXEC after the lease changed hands (or
  expired: Redis 6.0.9+ aborts a transaction whose watched key expired) writes nothing.

A loss is logged and counted (``apply_leases_lost_total{lease}``) where it is detected. The
caller stops doing more under the lease; what it did before stays done (every unit of work
is a compare-and-set, and the sweeps re-derive what is left from the database).

Stable API (the outbox sender uses it too)::

    lease = Lease(connection, "outbox:send:42", ttl_seconds=60)
    if lease.acquire():
        try:
            for group in groups:
                lease.check()      # raises LeaseLost: stop, send no more
                send(group)
                lease.renew()
        finally:
            lease.release()
"""

import logging
import secrets
import time
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import WatchError

logger = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

#: A lease counts as lost this long before its ttl runs out by our own clock: the time a
#: write issued just before the deadline may take to reach Redis.
SAFETY_MARGIN_SECONDS = 0.5


class LeaseLost(Exception):
    """This process no longer holds the lease: it must not do more under it."""

    def __init__(self, name: str, why: str):
        super().__init__(f"lease {name} lost: {why}")
        self.name = name
        self.why = why


class Lease:
    def __init__(self, connection: Redis, name: str, ttl_seconds: float):
        self.connection = connection
        self.name = name
        self.key = f"apply:lease:{name}"
        self.ttl_seconds = float(ttl_seconds)
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = secrets.token_hex(16)
        self._valid_until = 0.0  # time.monotonic() past which we no longer count on holding it
        self._lost = False

    def acquire(self) -> bool:
        started = time.monotonic()
        acquired = bool(self.connection.set(self.key, self.token, nx=True, px=self.ttl_ms))
        if acquired:
            self._valid_until = started + self.ttl_seconds - SAFETY_MARGIN_SECONDS
        return acquired

    def renew(self) -> bool:
        """Extend the lease by its ttl from now; raises ``LeaseLost`` if it is no longer ours."""
        self._check_local()
        started = time.monotonic()
        if not self.connection.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
            self._lose("another process holds it, or it expired")
        self._valid_until = started + self.ttl_seconds - SAFETY_MARGIN_SECONDS
        return True

    def check(self) -> None:
        """Raise ``LeaseLost`` unless the lease is still ours (its ttl not run out, our token in Redis)."""
        self._check_local()
        if self.connection.get(self.key) != self.token.encode():
            self._lose("another process holds it, or it expired")

    def release(self) -> bool:
        return bool(self.connection.eval(_RELEASE, 1, self.key, self.token))

    @contextmanager
    def guarded(self, pipe):
        """Queue writes in ``pipe`` (a transaction pipeline of this connection) that EXEC only
        while the lease is ours: yields the pipeline in MULTI mode; executes it on exit.

        Raises ``LeaseLost`` (nothing written) if the lease was lost before or during it.
        """
        pipe.watch(self.key)
        if pipe.get(self.key) != self.token.encode():
            pipe.reset()
            self._lose("another process holds it, or it expired")
        self._check_local(pipe)
        pipe.multi()
        yield pipe
        self._check_local(pipe)
        try:
            pipe.execute()
        except WatchError:
            self._lose("it changed hands while the write was queued")

    def _check_local(self, pipe=None) -> None:
        if self._lost:
            raise LeaseLost(self.name, "lost earlier")
        overdue = time.monotonic() - self._valid_until
        if overdue > 0:
            if pipe is not None:
                pipe.reset()
            self._lose(f"its ttl ({self.ttl_seconds:g} s) ran out {overdue:.1f} s ago by this process's clock"
                       " (paused or cut off)")

    def _lose(self, why: str):
        first = not self._lost
        self._lost = True
        error = LeaseLost(self.name, why)
        if first:
            from apps.monitoring.counters import lease_lost

            logger.warning("%s; stopping before doing more under it", error, extra={"lease": self.name})
            lease_lost(":".join(part for part in self.name.split(":") if not part.isdigit()))  # no ids in labels
        raise error


@contextmanager
def held_lease(connection: Redis, name: str, ttl_seconds: float):
    """Yield the ``Lease`` while holding it, None if someone else holds it."""
    lease = Lease(connection, name, ttl_seconds)
    acquired = lease.acquire()
    try:
        yield lease if acquired else None
    finally:
        if acquired:
            lease.release()
