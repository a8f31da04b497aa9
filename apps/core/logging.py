"""Stamp every log record with the service, the request id and the RQ job id."""

import contextvars
import logging

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
