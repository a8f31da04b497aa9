"""Every enqueue path reaches Redis only if the transaction commits; a Redis outage after
the commit is logged, not raised."""

from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from apps.core.enqueue import enqueue_at_on_commit, enqueue_in_on_commit, enqueue_many_on_commit, enqueue_on_commit

pytestmark = pytest.mark.django_db(transaction=True)
JOB = "jobs.maintenance.sessions_clear_expired"


def enqueue_every_way():
    enqueue_on_commit("default", JOB, job_id="now-job")
    enqueue_in_on_commit("default", timedelta(minutes=5), JOB)
    enqueue_at_on_commit("default", timezone.now() + timedelta(hours=1), JOB)
    enqueue_many_on_commit("default", JOB, [(), ()])


def jobs_in_redis():
    queue = django_rq.get_queue("default")
    return queue.count, ScheduledJobRegistry(queue=queue).count


class Boom(Exception):
    pass


def test_nothing_reaches_redis_when_the_transaction_rolls_back():
    with pytest.raises(Boom), transaction.atomic():
        enqueue_every_way()
        assert jobs_in_redis() == (0, 0)  # not before the commit either
        raise Boom
    assert jobs_in_redis() == (0, 0)


def test_everything_reaches_redis_when_the_transaction_commits():
    with transaction.atomic():
        enqueue_every_way()
        assert jobs_in_redis() == (0, 0)
    assert jobs_in_redis() == (3, 2)  # now-job + two of enqueue_many; in 5 min and in 1 h are scheduled
    assert "now-job" in django_rq.get_queue("default").get_job_ids()


def test_redis_down_after_commit_is_logged_not_raised(settings, caplog):
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in settings.RQ_QUEUES}
    with transaction.atomic():
        enqueue_every_way()
    assert caplog.text.count("enqueue after commit failed") == 4
