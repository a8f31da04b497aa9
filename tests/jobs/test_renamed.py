"""A renamed job's old dotted path still runs: jobs queued before the rename are not lost."""

import django_rq
import pytest
from rq.job import JobStatus
from rq.utils import import_attribute

from jobs.renamed import RENAMED
from tests.jobs.burst import failed_jobs, run_burst_worker
from tests.processes import child_env


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_every_old_path_is_an_alias_of_the_new_one(old, new):
    assert import_attribute(old) is import_attribute(new)


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
def test_a_job_queued_under_the_old_path_runs_on_a_real_worker(processes, redis_db):
    job = django_rq.get_queue("sweeps").enqueue("jobs.outbox.outbox_deliver_due", job_id="queued-before-rename")
    run_burst_worker(processes, child_env())
    assert failed_jobs(redis_db) == {}
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"requeued": 0, "batches": 0, "queues_busy": []}
