"""Workers a scenario starts from the Procfile's command, and SIGKILLs and replaces on schedule."""

import os
import signal
import time

from apps.core.redis import redis_connection
from bench.processes import ProcessGroup, procfile, with_venv_python


def registered_workers() -> list:
    from rq import Worker

    return Worker.all(connection=redis_connection())


def _busy_workers() -> dict[int, str]:
    """pid -> the function of the job each worker is running (only workers running one)."""
    busy = {}
    for worker in registered_workers():
        job = worker.get_current_job()
        if job is not None and worker.pid:
            busy[worker.pid] = job.func_name
    return busy


class Fleet:
    """The workers: started from the Procfile's command, SIGKILLed and replaced on schedule."""

    def __init__(self, group: ProcessGroup, env: dict, count: int):
        self.group, self.env, self.started = group, env, 0
        self.kills: list[dict] = []
        for _ in range(count):
            self.start()

    def start(self):
        self.started += 1
        return self.group.start(f"worker-{self.started}", with_venv_python(procfile()["worker"]), self.env)

    def kill_one(self, at: float) -> None:
        workers = {p.popen.pid: p for p in self.group.started if p.name.startswith("worker-") and p.alive()}
        busy = {}
        for _ in range(50):  # up to ~5 s for a worker in the middle of a delivery job
            busy = {pid: func for pid, func in _busy_workers().items() if pid in workers}
            if any("outbox_emails_deliver" in func for func in busy.values()):
                break
            time.sleep(0.1)
        delivering = [pid for pid, func in busy.items() if "outbox_emails_deliver" in func]
        pid = (delivering or list(busy) or list(workers))[0]
        victim = workers[pid]
        os.killpg(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait(timeout=10)
        victim.log.close()
        self.group.started.remove(victim)
        self.kills.append({"at_s": round(at, 1), "worker": victim.name, "job": busy.get(pid, "")})
        self.start()
