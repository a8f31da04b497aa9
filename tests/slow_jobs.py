"""A sweep that takes longer than its interval, for the no-overlap tests (run by real workers)."""

import json
import time

from apps.core.leases import held_lease
from apps.core.redis import redis_connection

RUNS_KEY = "test:slow_sweep:runs"


def slow_sweep(seconds: float = 2.5) -> None:
    connection = redis_connection()
    with held_lease(connection, "sweep:slow_sweep", ttl_seconds=30) as held:
        if not held:
            connection.rpush(RUNS_KEY, json.dumps({"lease": "busy"}))
            return
        started = time.time()
        time.sleep(seconds)
        connection.rpush(RUNS_KEY, json.dumps({"start": started, "end": time.time()}))
