"""gunicorn settings, read from the environment like the rest (``--config python:config.gunicorn``)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let in-flight requests finish for up to this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
accesslog = "-"
access_log_format = '{"access": "%(r)s", "status": %(s)s, "bytes": "%(b)s", "ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
raw_env = ["SERVICE_NAME=web"]
