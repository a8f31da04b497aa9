"""The RQ worker class every worker runs (settings.RQ["WORKER_CLASS"])."""

from rq.worker import Worker as RQWorker

#: Seconds between registry maintenance (RQ's default is 600, and rqworker cannot set it).
MAINTENANCE_INTERVAL = 60


class Worker(RQWorker):
    """RQ's forking worker, with registry maintenance every minute instead of every ten.

    Maintenance is what finds jobs abandoned by a worker killed mid-job (their entry in the
    started registry expires shortly after the job's timeout) and retries them, or moves
    them to the failed registry once their retries are used up. With the default they sat
    unnoticed for up to ten minutes; here they come back within about a minute and a half.
    The sweeps do not depend on it: they re-select due records whose batch was lost.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)
