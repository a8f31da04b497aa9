#!/usr/bin/env python
"""Container healthchecks for web, worker and clock.

    python docker/healthcheck.py web      exit 0 if this container's web answers GET /readyz with 200
    python docker/healthcheck.py worker   exit 0 if an RQ worker on this host is registered
    python docker/healthcheck.py clock    exit 0 if a clock on this host sent a fresh heartbeat

"This host" is the container: both processes name themselves after socket.gethostname(),
the container's id. The worker's registration in Redis expires unless it heartbeats
(rq's worker TTL, 420 s + 60 s while idle), so a hung worker turns unhealthy within about
eight minutes; the clock heartbeats every 5 s and is stale after HEARTBEAT_STALE_SECONDS.
Redis unreachable means unhealthy too: neither process can do its work without it.
The web check is readiness (database with every migration applied, and Redis), read from
the web process itself on the port gunicorn binds in the image (8000); it prints which
check failed.
"""

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def worker_alive(connection, hostname: str) -> bool:
    from rq import Worker

    return any(worker.hostname == hostname for worker in Worker.all(connection=connection))


def clock_alive(connection, hostname: str) -> bool:
    from apps.scheduling.clock_state import ClockState
    from apps.scheduling.runner import utc_now

    # Clock ids are "<hostname>-<pid>" (apps.scheduling.runner.Clock).
    return any(
        beat["clock"].startswith(f"{hostname}-") and not beat["stale"]
        for beat in ClockState(connection).heartbeats(utc_now())
    )


READYZ_URL = "http://127.0.0.1:8000/readyz"


def web_ready(url: str = READYZ_URL) -> tuple[bool, str]:
    """(ready, what /readyz said): no Django needed, only the web process's answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200, response.read().decode()
    except urllib.error.HTTPError as error:  # 503: the body names what failed
        body = error.read().decode()
        try:
            return False, "not ready: " + ", ".join(json.loads(body)["failed"])
        except (ValueError, KeyError):
            return False, f"HTTP {error.code}"
    except OSError as exc:
        return False, f"no answer: {exc}"


CHECKS = {"worker": worker_alive, "clock": clock_alive}
NOT_ALIVE = {
    "worker": "no RQ worker of this host registered in Redis",
    "clock": "no fresh heartbeat from a clock of this host",
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("web", *CHECKS):
        print(f"usage: healthcheck.py {{web|{'|'.join(CHECKS)}}}", file=sys.stderr)
        return 2
    if argv[0] == "web":
        ready, said = web_ready()
        print(f"web: {said}", file=sys.stdout if ready else sys.stderr)
        return 0 if ready else 1
    import django

    django.setup()
    from apps.core.redis import redis_connection

    hostname = socket.gethostname()
    try:
        alive = CHECKS[argv[0]](redis_connection(), hostname)
    except Exception as exc:  # any failure to answer is "unhealthy", with the reason
        print(f"{argv[0]} on {hostname}: check failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not alive:
        print(f"{argv[0]} on {hostname}: {NOT_ALIVE[argv[0]]}", file=sys.stderr)
        return 1
    print(f"{argv[0]} on {hostname}: alive")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
