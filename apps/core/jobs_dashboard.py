"""django-rq's dashboard, every one of its URLs behind a gate, and 404 for what does not exist.

django-rq's views answer 500 to a queue index past the configured queues, a job id or a
worker key that is not in Redis, and to its rq-scheduler page when rq-scheduler is not
installed (the clock is our own). Each URL's arguments are checked before the view runs,
and a job that disappears in between (or a POSTed job id that never existed) is a 404 too.
"""

from functools import wraps
from importlib.util import find_spec

from django.http import Http404
from django.urls import URLPattern
from django_rq import urls as django_rq_urls
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_list
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.worker import Worker


def _check_arguments(kwargs) -> None:
    """Raise Http404 unless every queue, job, worker and scheduler the URL names exists."""
    if "scheduler_index" in kwargs:
        if find_spec("rq_scheduler") is None:
            raise Http404("rq-scheduler is not installed: there are no scheduler pages.")
        if kwargs["scheduler_index"] >= len(get_queues_list()):
            raise Http404(f"No scheduler {kwargs['scheduler_index']}.")
    if "queue_index" not in kwargs:
        return
    index = kwargs["queue_index"]
    if index >= len(get_queues_list()):
        raise Http404(f"No queue {index}.")
    connection = get_queue_by_index(index).connection
    if "job_id" in kwargs and not Job.exists(kwargs["job_id"], connection=connection):
        raise Http404(f"No job {kwargs['job_id']!r}.")
    key = kwargs.get("key")
    if key is not None and not (key.startswith(Worker.redis_worker_namespace_prefix) and connection.exists(key)):
        raise Http404(f"No worker {key!r}.")


def _not_found_for_missing(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        _check_arguments(kwargs)
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError as error:
            raise Http404(str(error)) from error

    return wrapped


def jobs_dashboard_urlpatterns(*, gate) -> list[URLPattern]:
    """Every URL pattern of ``django_rq.urls`` (the JSON stats and metrics too), each view
    wrapped in ``gate`` (who may use it) around the existence checks."""
    return [
        URLPattern(pattern.pattern, gate(_not_found_for_missing(pattern.callback)), pattern.default_args, pattern.name)
        for pattern in django_rq_urls.urlpatterns
    ]
