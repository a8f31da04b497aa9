"""The RQ worker class every worker runs (settings.RQ["WORKER_CLASS"]).

Why not RQ's default forking worker (measured by ``python3 dev.py bench --scenario workers``,
see docs/adr/0001-worker-class.md): each forked job opens its own database connection and
pays for the fork, about 30 ms per job here on top of the job itself; 20,000 due
applications in batches of 500 drained at 3,992/s with it and 5,249/s without. What
forking buys is kept another way:

- a job that hangs is still stopped at its timeout: the same SIGALRM death penalty RQ uses
  in the work horse raises JobTimeoutException in the job, and the worker goes on;
- a job that leaks memory does not grow the worker for ever: past WORKER_MAX_RSS_MB the
  worker finishes its job and exits cleanly, and its supervisor (Docker's restart policy)
  starts a fresh one;
- one job's database state never reaches the next: connections that are broken or past
  CONN_MAX_AGE are closed before and after every job (as Django does around a request);
- a job that kills the process (a crash in C code) loses nothing: its entry in the
  started registry expires and maintenance retries it, like a worker killed mid-job.
"""

import resource
import time

from django.conf import settings
from django.db import close_old_connections, connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import StopRequested
from rq.worker import SimpleWorker

#: Seconds between registry maintenance (RQ's default is 600, and rqworker cannot set it).
MAINTENANCE_INTERVAL = 60
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)


def _rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux), or its peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Worker(SimpleWorker):
    """Runs jobs in its own process, outlives a Redis restart, and does maintenance every minute.

    Maintenance is what finds jobs abandoned by a worker killed mid-job (their entry in the
    started registry expires shortly after the job's timeout) and retries them, and what
    restarts a scheduler process that died; with RQ's default it ran every ten minutes.

    RQ's work loop quits on any Redis error outside its blocking dequeue (the status read
    after a job, the heartbeat, the worker state, the suspension check): a Redis restart
    ended every busy worker. Here those calls wait for Redis with backoff instead, still
    answering a stop request.
    A job whose end could not be recorded stays "started": maintenance retries it as
    abandoned, and job effects are compare-and-set, so a rerun changes nothing twice.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

    def _until_redis_answers(self, call, *args, **kwargs):
        delay = 1.0
        while True:
            try:
                return call(*args, **kwargs)
            except REDIS_ERRORS as exc:
                if self._stop_requested:
                    raise StopRequested() from exc
                self.log.error("Worker %s: Redis unavailable (%s); retrying in %.0fs", self.name, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def execute_job(self, job, queue):
        close_old_connections()
        self._job_failed = False
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            self.log.error("Worker %s: lost Redis while finishing job %s (%s); carrying on", self.name, job.id, exc)
        finally:
            if self._job_failed:
                # A query interrupted by the timeout may have left its connection mid-statement.
                connections.close_all()
            else:
                close_old_connections()
            self._stop_if_too_big()

    def handle_job_failure(self, *args, **kwargs):
        self._job_failed = True
        return super().handle_job_failure(*args, **kwargs)

    def _stop_if_too_big(self):
        rss = _rss_mb()
        if rss > settings.WORKER_MAX_RSS_MB and not self._stop_requested:
            self.log.warning(
                "Worker %s: %.0f MB resident, over WORKER_MAX_RSS_MB=%s; exiting after this job to be restarted fresh",
                self.name, rss, settings.WORKER_MAX_RSS_MB,
            )
            self._stop_requested = True

    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):
        return self._until_redis_answers(super().dequeue_job_and_maintain_ttl, *args, **kwargs)

    def set_state(self, state, pipeline=None):
        if pipeline is not None:  # buffered: no round trip here
            return super().set_state(state, pipeline)
        return self._until_redis_answers(super().set_state, state)

    def set_shutdown_requested_date(self):
        """Informational only (runs inside the SIGTERM handler): never let Redis fail a shutdown."""
        try:
            super().set_shutdown_requested_date()
        except REDIS_ERRORS as exc:
            self.log.error("Worker %s: could not record the shutdown request in Redis: %s", self.name, exc)

    def heartbeat(self, *args, **kwargs):
        return self._until_redis_answers(super().heartbeat, *args, **kwargs)

    def check_for_suspension(self, burst: bool):
        return self._until_redis_answers(super().check_for_suspension, burst)

    def run_maintenance_tasks(self):
        return self._until_redis_answers(super().run_maintenance_tasks)
