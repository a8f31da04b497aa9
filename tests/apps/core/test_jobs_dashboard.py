"""django-rq's dashboard at /django-rq/: support only, every URL; 404 for what does not exist."""

import django_rq
import pytest
from django.urls import reverse
from django_rq import urls as django_rq_urls
from django_rq.settings import get_queues_map
from rq.worker import Worker

from tests.factories import make_support_user, make_user

pytestmark = pytest.mark.django_db
DEFAULT = get_queues_map()["default"]  # the dashboard's index of the default queue
MISSING = len(get_queues_map())  # one past the last queue


@pytest.fixture
def job():
    return django_rq.get_queue("default").enqueue("os.getpid")


def url_for(pattern, job_id: str) -> str:
    """The pattern's URL, with a queue and job that exist."""
    kwargs = {}
    for name in pattern.pattern.converters:
        kwargs[name] = {
            "queue_index": DEFAULT,
            "scheduler_index": 0,
            "connection_index": 0,
            "job_id": job_id,
            "result_id": "1",
            "key": f"{Worker.redis_worker_namespace_prefix}nobody",
            "token": "token",
            "scheduler_name": "scheduler",
            "cron_job_name": "cron",
        }[name]
    return reverse(f"django_rq:{pattern.name}", kwargs=kwargs)


ALL_URLS = [pytest.param(pattern, id=str(pattern.pattern)) for pattern in django_rq_urls.urlpatterns]


@pytest.mark.parametrize("pattern", ALL_URLS)
def test_every_dashboard_url_is_for_support_only(client, job, pattern):
    url = url_for(pattern, job.id)
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url

    client.force_login(make_user(is_staff=True))  # staff, without the support role
    for method in (client.get, client.post):
        assert method(url).status_code == 403, url


def test_staff_without_the_role_cannot_empty_a_queue(client, job):
    client.force_login(make_user(is_staff=True))
    assert client.post(reverse("django_rq:clear", args=[DEFAULT])).status_code == 403
    assert django_rq.get_queue("default").get_job_ids() == [job.id]


def test_support_can_empty_a_queue(client, job):
    client.force_login(make_support_user())
    response = client.post(reverse("django_rq:clear", args=[DEFAULT]))
    assert response.status_code == 302
    assert django_rq.get_queue("default").get_job_ids() == []


def test_support_sees_the_dashboard_and_a_job(client, job):
    client.force_login(make_support_user())
    assert client.get("/django-rq/").status_code == 200
    assert client.get(f"/django-rq/queues/{DEFAULT}/").status_code == 200
    assert client.get(f"/django-rq/queues/{DEFAULT}/{job.id}/").status_code == 200


BAD_URLS = [
    # A queue index past the configured queues, on every page that takes one.
    *(
        f"/django-rq/queues/{MISSING}/{page}"
        for page in ["", "details/", "finished/", "failed/", "failed/clear/", "scheduled/", "started/",
                     "deferred/", "empty/", "requeue-all/", "some-job/", "some-job/delete/"]
    ),
    "/django-rq/queues/99999999999999999999999/",
    f"/django-rq/queues/confirm-action/{MISSING}/",
    f"/django-rq/queues/actions/{MISSING}/",
    f"/django-rq/workers/{MISSING}/",
    # Not a number, or negative: no such URL.
    "/django-rq/queues/abc/",
    "/django-rq/queues/-1/",
    # A job id that does not exist, on every job page.
    *(
        f"/django-rq/queues/{DEFAULT}/no-such-job/{page}"
        for page in ["", "results/1/", "delete/", "requeue/", "enqueue/", "stop/"]
    ),
    # A worker that does not exist, or a key that is not a worker's.
    f"/django-rq/workers/{DEFAULT}/{Worker.redis_worker_namespace_prefix}nobody/",
    f"/django-rq/workers/{DEFAULT}/not-a-worker-key/",
    # rq-scheduler is not installed (the clock is our own); cron schedulers that do not exist.
    "/django-rq/schedulers/0/",
    f"/django-rq/schedulers/{MISSING}/",
    "/django-rq/cron-schedulers/0/nobody/",
    f"/django-rq/cron-schedulers/{MISSING}/nobody/",
    "/django-rq/cron-schedulers/0/nobody/jobs/some/job/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_url_naming_what_does_not_exist_is_404(client, url):
    client.force_login(make_support_user())
    client.raise_request_exception = False
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


def test_a_posted_job_id_that_does_not_exist_is_404(client, job):
    client.force_login(make_support_user())
    client.raise_request_exception = False
    response = client.post(
        f"/django-rq/queues/actions/{DEFAULT}/", {"action": "delete", "job_ids": [job.id, "no-such-job"]}
    )
    assert response.status_code == 404
