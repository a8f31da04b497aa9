"""Error reporting to Sentry, on when SENTRY_DSN is set (config/settings.py calls ``sentry_init``).

Settings are the one module web (wsgi), worker (``manage.py rqworker``) and clock
(``clock.py`` sets Django up) all import, so the three start it the same way. Errors come
from Django (a view that raised), RQ (a job that failed for good: retries left are not
errors yet) and ERROR log lines.

Nothing personal by default, set explicitly with ``data_collection`` (sentry-sdk 2.75's
successor of ``send_default_pii=False``, which it deprecates): no user (id, name, email,
address), no cookies, no query strings or request bodies (searches and forms hold
candidates' data), only harmless request headers, no SQL parameters, no job arguments, no
local variables of the failing frames (they hold rows and addresses). An event carries the service (web, worker, clock)
and the request id or job id as tags, the same ids as the log lines, so an event and its
logs are found together.
"""

import functools

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.rq import RqIntegration

from apps.core.logging import current_job_id, request_id_var


def _tag_ids(event, hint, *, service: str):
    """Stamp the service, the request id and the job id, as the log lines carry them."""
    tags = event.setdefault("tags", {})
    tags["service"] = service
    request_id = request_id_var.get()
    if request_id:
        tags["request_id"] = request_id
    try:
        job_id = current_job_id() or event.get("extra", {}).get("rq-job", {}).get("job_id", "")
    except Exception:  # reporting must never fail on its own bookkeeping
        job_id = ""
    if job_id:
        tags["job_id"] = job_id
    rq_job = event.get("extra", {}).get("rq-job")
    if rq_job and "description" in rq_job:
        rq_job["description"] = rq_job.get("func", "")  # RQ's description repeats the arguments
    return event


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float, service: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {
                "request": {"mode": "allowlist", "terms": ["host", "user-agent", "accept", "content-type", "x-request-id"]}
            },
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        integrations=[DjangoIntegration(), RqIntegration(), LoggingIntegration()],
        before_send=functools.partial(_tag_ids, service=service),
    )
