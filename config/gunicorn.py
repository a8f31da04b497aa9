"""gunicorn settings, read from the environment like the rest (``--config python:config.gunicorn``)."""

import os
import subprocess
import sys
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Three single-threaded workers per two CPUs: one more than the CPUs, so that a worker
# waiting on PostgreSQL leaves the CPU to another. Measured at 1,000,000 applications under
# 16 clients (`python3 dev.py bench --scenario lists`), same code: support list p95 98 ms
# with 3 workers, 117 ms with 5. Scale out with more containers, not more workers.
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# One thread per worker (gunicorn's sync worker): the pages are CPU-bound Python, and with
# 4 threads per worker they contended for the GIL. Measured with `python3 dev.py bench
# --scenario lists` (16 clients, 2 workers, 100,000 applications): support list p95 196 ms
# with 4 threads, 91 ms with 1. Sync workers expect a buffering proxy (nginx, a cloud load
# balancer) in front for slow clients; set GUNICORN_THREADS where requests wait on I/O.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let in-flight requests finish for up to this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
accesslog = "-"
# Every line gunicorn writes (its own and the access log) is JSON with the service's fields
# like every other process's; an access line adds method, path, status, duration_ms and the
# signed-in user's id (never the name). See apps.core.logging.GunicornLogger.
logger_class = "apps.core.logging.GunicornLogger"
raw_env = ["SERVICE_NAME=web"]
# gunicorn 27's control socket (for `gunicornc`) defaults to ~/.gunicorn/gunicorn.ctl (or
# $XDG_RUNTIME_DIR/gunicorn.ctl): one path for every gunicorn of the user on the host, so a
# second instance (a blue/green deploy, two apps, a test run next to dev.py) takes the
# first one's socket over, and `gunicornc` then reaches the wrong server. Nothing here uses
# it: off unless GUNICORN_CONTROL_SOCKET names a path for this instance alone.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")


def on_starting(server):
    """Collect static files before the first worker starts, on every start path.

    Pages link to hashed file names read from the manifest collectstatic writes; without
    it every page fails. The image collects at build, but a Procfile platform or a plain
    checkout starts this same command with nothing else before it, and a code update
    without a new collect would link to stale names. So the web start collects (about a
    second; unchanged files are not copied again) and refuses to start if that fails.
    STATIC_ROOT must be writable by the web process (it is in the image).
    """
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
