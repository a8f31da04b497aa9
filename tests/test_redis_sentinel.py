"""Redis behind Sentinel: a real primary and replica (Debian's redis-server) and three
Sentinels (redis-sentinel) on free loopback ports, started and stopped by the test.

Web (/readyz), a worker and a clock, started with the Procfile's commands and only
``REDIS_SENTINELS`` and ``REDIS_MASTER_NAME`` to find Redis, do their work; the primary
is killed (SIGKILL), the Sentinels promote the replica, and the same processes, never
restarted, carry on against the new primary.
"""

import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_rq.connection_utils import get_redis_connection
from redis import Redis

from apps.applications.models import Application, ApplicationState
from config.redis_settings import queue_connection
from tests.conftest import free_port
from tests.factories import make_course, make_cycle, make_user
from tests.processes import child_env, clock_args, ready_with_redis, wait_until, worker_args
from tests.test_deploy_files import _procfile

MASTER = "apply"
S = ApplicationState


class SentinelRedis:
    """A primary, a replica and three Sentinels, each a real process on loopback."""

    def __init__(self, tmp_path: Path, address: str = "127.0.0.1"):
        self.tmp, self.address = tmp_path, address
        self.servers: dict[int, subprocess.Popen] = {}
        self.sentinels: dict[int, subprocess.Popen] = {}
        self._logs = []
        self.primary_port, self.replica_port = free_port(), free_port()
        self._server(self.primary_port)
        self._server(self.replica_port, "--replicaof", address, str(self.primary_port))
        for _ in range(3):
            port = free_port()
            conf = tmp_path / f"sentinel-{port}.conf"  # Sentinel rewrites its file: one each
            conf.write_text(
                f"port {port}\nbind {address}\ndir {tmp_path}\n"
                f"sentinel monitor {MASTER} {address} {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            self.sentinels[port] = self._start(f"sentinel-{port}", ["redis-sentinel", str(conf)])

    def _start(self, name, args):
        log = open(self.tmp / f"{name}.log", "wb")
        self._logs.append(log)
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)

    def _server(self, port, *extra):
        self.servers[port] = self._start(
            f"redis-{port}",
            # Protected mode refuses clients off loopback without a password: the fleet's hosts are.
            ["redis-server", "--port", str(port), "--bind", self.address, "--protected-mode", "no", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp), *extra],
        )

    @property
    def hosts(self) -> str:
        return ",".join(f"{self.address}:{port}" for port in self.sentinels)

    def ask(self, *command):
        for port, process in self.sentinels.items():
            if process.poll() is None:
                try:
                    return Redis(host=self.address, port=port, socket_timeout=2).execute_command(*command)
                except Exception:
                    continue
        raise AssertionError("no Sentinel answers")

    def master_port(self) -> int:
        return int(self.ask("SENTINEL", "get-master-addr-by-name", MASTER)[1])

    def ready(self) -> bool:
        """Every Sentinel sees the replica and the two other Sentinels (a failover needs them)."""
        try:
            for port in self.sentinels:
                sentinel = Redis(host=self.address, port=port, socket_timeout=2)
                if len(sentinel.execute_command("SENTINEL", "replicas", MASTER)) < 1:
                    return False
                if len(sentinel.execute_command("SENTINEL", "sentinels", MASTER)) < 2:
                    return False
            replica = self.replica_port if self.replica_port != self.master_port() else self.primary_port
            return Redis(host=self.address, port=replica).info("replication")["master_link_status"] == "up"
        except Exception:
            return False

    def restart_as_replica(self, port: int) -> None:
        """Start the server on ``port`` again (killed before), as a replica of the current primary."""
        self._server(port, "--replicaof", self.address, str(self.master_port()))

    def kill_primary(self) -> int:
        port = self.master_port()
        self.servers[port].send_signal(signal.SIGKILL)
        self.servers[port].wait(timeout=10)
        return port

    def stop(self):
        for process in [*self.sentinels.values(), *self.servers.values()]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in self._logs:
            log.close()


@pytest.fixture
def sentinel_redis(tmp_path):
    if not (shutil.which("redis-server") and shutil.which("redis-sentinel")):
        pytest.skip("needs Debian's redis-server and redis-sentinel (apt-get install redis-server redis-sentinel)")
    topology = SentinelRedis(tmp_path)
    try:
        wait_until(topology.ready, timeout=30, message="the Sentinels to see the replica and each other")
        yield topology
    finally:
        topology.stop()


def test_sentinel_settings_refuse_bad_input_clearly():
    with pytest.raises(ImproperlyConfigured, match="REDIS_MASTER_NAME"):
        queue_connection("redis://x/0", ["127.0.0.1:26379"], None)
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS is not"):
        queue_connection("redis://x/0", [], "apply")
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        queue_connection("redis://x/0", ["127.0.0.1"], "apply")
    with pytest.raises(ImproperlyConfigured, match="database number"):
        queue_connection("redis://x/zero", ["h:1"], "apply")
    config = queue_connection("rediss://apply:p%40ss@ignored:1/4?ssl_ca_certs=/ca.pem", ["a:1", "b:2"], "apply")
    assert config["SENTINELS"] == [("a", 1), ("b", 2)] and config["DB"] == 4
    assert (config["USERNAME"], config["PASSWORD"]) == ("apply", "p@ss")
    assert config["CONNECTION_KWARGS"]["ssl"] and config["CONNECTION_KWARGS"]["ssl_ca_certs"] == "/ca.pem"
    assert queue_connection("redis://h:1/0", [], None) == {"URL": "redis://h:1/0"}


def seed_due(count: int) -> list[int]:
    course, cycle, candidate = make_course(), make_cycle(), make_user()
    due = timezone.now() - timedelta(minutes=1)
    return [
        application.pk
        for application in Application.objects.bulk_create(
            Application(candidate=candidate, course=course, provider_id=course.provider_id, cycle=cycle,
                        state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=due)
            for _ in range(count)
        )
    ]


def all_rejected(ids) -> bool:
    return not Application.objects.filter(pk__in=ids).exclude(state=S.REJECTED).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.processes
@pytest.mark.timeout(240)
def test_web_worker_and_clock_follow_a_failover_of_the_primary(sentinel_redis, processes, tmp_path):
    env = child_env(
        REDIS_URL="redis://sentinel-managed/0",  # host unused behind Sentinel; database 0 of a private server
        REDIS_SENTINELS=sentinel_redis.hosts, REDIS_MASTER_NAME=MASTER,
        CLOCK_TIMETABLE="tests.clock_timetables.REJECT_SWEEP_EVERY_TWO_SECONDS", CLOCK_POLL_INTERVAL="0.2",
        APPLY_CLAIM_TTL_SECONDS=10,
    )
    config = queue_connection("redis://sentinel-managed/0", sentinel_redis.hosts.split(","), MASTER)
    client = get_redis_connection(config)  # the service's own client, as apps.core.redis builds it
    assert client.connection_pool.get_master_address() == ("127.0.0.1", sentinel_redis.primary_port)

    first = seed_due(30)
    worker = processes.start("worker", worker_args(), env)
    clock = processes.start("clock", clock_args(), env)
    port = free_port()
    argv = _procfile()["web"]
    argv[0] = str(Path(sys.executable).parent / argv[0])
    web = processes.start("web", argv, {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1",
                                        "DJANGO_STATIC_ROOT": str(tmp_path / "static")})

    wait_until(lambda: all_rejected(first), timeout=60, message=f"the first rejections ({worker.output()[-1500:]})")
    wait_until(lambda: ready_with_redis(port), timeout=60, message=f"/readyz through Sentinel ({web.output()[-1500:]})")

    killed_at = time.monotonic()
    old = sentinel_redis.kill_primary()
    wait_until(lambda: sentinel_redis.master_port() != old, timeout=30, message="the Sentinels to promote the replica")
    promoted_after = time.monotonic() - killed_at
    assert sentinel_redis.master_port() == sentinel_redis.replica_port

    second = seed_due(30)  # work that exists only after the failover: the clock, worker and web must all follow it
    wait_until(lambda: all_rejected(second), timeout=90,
               message=f"rejections after the failover (worker: {worker.output()[-1500:]} clock: {clock.output()[-800:]})")
    recovered_after = time.monotonic() - killed_at
    wait_until(lambda: ready_with_redis(port), timeout=30, message="/readyz after the failover")
    wait_until(lambda: _pings(client), timeout=30, message="the test's own client to reconnect")
    assert client.connection_pool.get_master_address() == ("127.0.0.1", sentinel_redis.replica_port)
    assert Redis(port=sentinel_redis.replica_port).info("replication")["role"] == "master"
    for process in (worker, clock, web):
        assert process.popen.poll() is None, f"{process.name} exited"
    print(f"failover: promoted {promoted_after:.1f} s after the kill, work done again {recovered_after:.1f} s after it")
    assert clock.stop() == 0, clock.output()[-2000:]
    code = worker.stop()
    assert code == 0, "\n".join(line for line in worker.log_path.read_text().splitlines()
                                 if "cheduler" in line or "shut" in line or "rror" in line)[-4000:]


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False
