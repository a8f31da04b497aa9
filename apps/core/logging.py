"""Stamp every log record with the service, the request id and the RQ job id."""

import contextvars
import logging
import os

import gunicorn.glogging
from django.conf import settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_job_id() -> str:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else ""


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.service = getattr(settings, "SERVICE_NAME", "")
        record.request_id = request_id_var.get()
        try:
            record.job_id = current_job_id()
        except Exception:  # logging must never fail the caller
            record.job_id = ""
        return True


# --- gunicorn's own lines ----------------------------------------------------------------

#: The JSON lines' fields: the same as settings.LOGGING's "json" formatter (a test holds
#: the two together). gunicorn's lines carry them too, so every line of every process
#: parses the same way.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s %(job_id)s"
JSON_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}
#: The WSGI environ key gunicorn's access log reads the user's id from
#: (apps.core.middleware.AccessLogUserMiddleware writes it).
ACCESS_LOG_USER_ID = "apply.user_id"


class _GunicornContext(logging.Filter):
    """service, request_id and job_id for gunicorn's lines, without Django's settings: the
    master process that writes some of them never loads Django."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = os.environ.get("SERVICE_NAME") or "web"
        record.request_id = getattr(record, "request_id", "")
        record.job_id = ""
        return True


def _gunicorn_formatter() -> logging.Formatter:
    if os.environ.get("LOG_FORMAT", "json") != "json":
        return logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMED)


class GunicornLogger(gunicorn.glogging.Logger):
    """gunicorn's error and access logs in the service's format (config/gunicorn.py).

    An access line is ``GET /path 200`` plus method, path (never the query string: a
    search can hold a name), status, duration_ms, bytes, the request id the response
    carries and the signed-in user's id (``apps.core.middleware.AccessLogUserMiddleware``;
    never the user name), empty when nobody is signed in.
    """

    def setup(self, cfg):
        super().setup(cfg)
        formatter = _gunicorn_formatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
                if not any(isinstance(f, _GunicornContext) for f in handler.filters):
                    handler.addFilter(_GunicornContext())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        try:
            status = str(getattr(resp, "status", "") or "").split(None, 1)[0]
            headers = {name.lower(): value for name, value in (getattr(resp, "headers", None) or [])}
            method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
            self.access_log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "status": int(status) if status.isdigit() else status,
                    "duration_ms": round(request_time.total_seconds() * 1000, 1),
                    "bytes": getattr(resp, "sent", None),
                    "user_id": environ.get(ACCESS_LOG_USER_ID, ""),
                    "request_id": headers.get("x-request-id", ""),
                },
            )
        except Exception:
            self.error("access log line failed", exc_info=True)


