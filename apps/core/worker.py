"""The RQ worker class every worker runs (settings.RQ["WORKER_CLASS"])."""

import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import StopRequested
from rq.worker import Worker as RQWorker

#: Seconds between registry maintenance (RQ's default is 600, and rqworker cannot set it).
MAINTENANCE_INTERVAL = 60
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)


class Worker(RQWorker):
    """RQ's forking worker, made to outlive a Redis restart, with maintenance every minute.

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
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            self.log.error("Worker %s: lost Redis while finishing job %s (%s); carrying on", self.name, job.id, exc)

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
