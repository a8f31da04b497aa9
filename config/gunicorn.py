"""gunicorn settings, read from the environment like the rest (``--config python:config.gunicorn``)."""

import os

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
access_log_format = '{"access": "%(r)s", "status": %(s)s, "bytes": "%(b)s", "ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
raw_env = ["SERVICE_NAME=web"]
