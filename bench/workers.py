"""The worker class: RQ's forking ``Worker`` against ours (``apps.core.worker.Worker``, no fork).

The same due applications (a tenth of the table, at most 20,000), the same process jobs
(the reject sweep run once, batches of ``APPLY_BATCH_SIZE``), one burst worker on the
``default`` queue started with ``manage.py rqworker --worker-class``; the rows are put
back between runs. Then the same with batches of 50, where the per-job cost shows most.
The figures behind docs/adr/0001-worker-class.md.
"""

import time

from apps.core.redis import redis_connection
from bench import seed
from bench.processes import ProcessGroup, ScenarioFailed, child_env, wait_until, with_venv_python
from bench.seed import T, scalar
from bench.spike import _mark_due, _marks, _pick, _reset

CLASSES = {"forking (rq.worker.Worker)": "rq.worker.Worker", "ours (apps.core.worker.Worker)": "apps.core.worker.Worker"}
MOST = 20_000


def _one(worker_class: str, count: int, batch_size: int) -> dict:
    marks = _marks()
    _mark_due()
    # The sweep in this process, as the clock's job would run it: claims and enqueues the batches.
    from django.test import override_settings

    from jobs.applications import applications_reject_due

    with override_settings(APPLY_BATCH_SIZE=batch_size):
        swept = applications_reject_due()
    started = time.monotonic()
    with ProcessGroup() as group:
        argv = with_venv_python(["python", "manage.py", "rqworker", "default", "--burst", "--worker-class", worker_class])
        worker = group.start("worker", argv, child_env(SERVICE_NAME="worker"))
        wait_until(lambda: not worker.alive(), timeout=600, what=f"the {worker_class} burst to finish")
        if worker.popen.returncode != 0:
            raise ScenarioFailed(f"{worker_class} exited {worker.popen.returncode}:\n{worker.tail()}")
    seconds = time.monotonic() - started
    rejected = scalar(f"SELECT count(*) FROM {T['application']} a JOIN bench_spike s USING (id) "
                      "WHERE a.state = 'rejected'")
    _reset(marks)
    if rejected != count:
        raise ScenarioFailed(f"{worker_class}: {rejected:,} of {count:,} rejected")
    return {"jobs": swept["batches"], "applications": rejected, "seconds": seconds, "per_s": rejected / seconds}


def run(*, size: int, args) -> dict:
    count = min(MOST, max(1, size // 10))
    redis_connection().flushdb()
    seed.mark_dirty()
    picked = _pick(count)
    figures, rows = {"runs": {}}, []
    try:
        for batch_size in (500, 50):
            for label, worker_class in CLASSES.items():
                result = _one(worker_class, picked, batch_size)
                figures["runs"][f"{worker_class} batch {batch_size}"] = result
                rows.append([label, batch_size, result["jobs"], result["applications"], result["seconds"],
                             result["per_s"], result["seconds"] * 1000 / result["jobs"]])
    finally:
        seed.mark_clean()
    for batch_size in (500, 50):
        fork, ours = (figures["runs"][f"{c} batch {batch_size}"] for c in CLASSES.values())
        figures[f"per_job_saving_ms_batch_{batch_size}"] = (fork["seconds"] - ours["seconds"]) * 1000 / fork["jobs"]
    figures["table"] = {
        "headers": ["worker", "batch", "jobs", "applications", "seconds", "per second", "ms per job"],
        "rows": rows,
    }
    return figures
