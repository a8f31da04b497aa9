"""REDIS_URL with TLS and a password, against a real TLS Redis on loopback.

The test makes its own CA and server certificate (openssl), starts Debian's redis-server
with TLS only (``--port 0``) and a password, and runs web (/readyz), a worker and a clock
with ``REDIS_URL=rediss://:<password>@127.0.0.1:<port>/0?ssl_ca_certs=<ca.pem>``. A wrong
password and an untrusted certificate fail with errors that say so.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django_rq.connection_utils import get_redis_connection
from redis.exceptions import AuthenticationError, ConnectionError as RedisConnectionError

from tests.conftest import free_port
from tests.processes import child_env, clock_args, ready_with_redis, wait_until, worker_args
from tests.test_deploy_files import _procfile

pytestmark = pytest.mark.processes
PASSWORD = "tls-test-password"


def _tls_redis_server() -> str | None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        return None
    # Whether it was built with TLS shows only when it starts with --tls-port (the fixture skips then).
    return binary


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_redis(tmp_path):
    binary = _tls_redis_server()
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("needs Debian's redis-server (apt-get install redis-server) and openssl")
    certs = tmp_path / "certs"
    certs.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=apply-test-ca", cwd=certs)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=certs)
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "san.ext", cwd=certs)
    port = free_port()
    log = open(tmp_path / "redis-tls.log", "wb")
    server = subprocess.Popen(
        [binary, "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port),
         "--tls-cert-file", str(certs / "server.pem"), "--tls-key-file", str(certs / "server.key"),
         "--tls-ca-cert-file", str(certs / "ca.pem"), "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={certs / 'ca.pem'}"

    def answers():
        if server.poll() is not None:
            pytest.skip(f"this redis-server has no TLS: {(tmp_path / 'redis-tls.log').read_text()[-500:]}")
        try:
            return get_redis_connection({"URL": url}).ping()
        except Exception:
            return False

    try:
        wait_until(answers, timeout=20, message="the TLS Redis to answer")
        yield {"url": url, "port": port, "ca": certs / "ca.pem"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_a_wrong_password_or_an_untrusted_certificate_fails_clearly(tls_redis):
    wrong_password = tls_redis["url"].replace(PASSWORD, "not-the-password")
    with pytest.raises(AuthenticationError):
        get_redis_connection({"URL": wrong_password}).ping()
    untrusted = tls_redis["url"].split("?")[0]  # the system's CAs do not know the test's CA
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        get_redis_connection({"URL": untrusted}).ping()
    plain = f"redis://:{PASSWORD}@127.0.0.1:{tls_redis['port']}/0"
    with pytest.raises(RedisConnectionError):
        get_redis_connection({"URL": plain, "SOCKET_TIMEOUT": 2}).ping()


@pytest.mark.django_db(transaction=True)
def test_readyz_names_redis_when_the_tls_password_is_wrong(tls_redis, client, settings):
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "default": {"URL": tls_redis["url"].replace(PASSWORD, "not-the-password")},
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "error: AuthenticationError"


@pytest.mark.django_db(transaction=True)
def test_web_worker_and_clock_work_over_tls(tls_redis, processes, tmp_path):
    from rq.job import Job

    from apps.scheduling.clock_state import ClockState

    env = child_env(REDIS_URL=tls_redis["url"])
    worker = processes.start("worker", worker_args("sweeps"), env)
    clock = processes.start("clock", clock_args(), {**env, "CLOCK_TIMETABLE": "tests.clock_timetables.EVERY_SECOND"})
    port = free_port()
    argv = _procfile()["web"]
    argv[0] = str(Path(sys.executable).parent / argv[0])
    web = processes.start(
        "web", argv,
        {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1",
         "DJANGO_STATIC_ROOT": str(tmp_path / "static")},
    )

    wait_until(lambda: ready_with_redis(port), timeout=60, message=f"/readyz over TLS ({web.output()[-1500:]})")

    connection = get_redis_connection({"URL": tls_redis["url"]})

    def a_ticked_job_finished():
        for run in ClockState(connection).runs("every_second", limit=20):
            if run.get("job_id"):
                job = Job.fetch(run["job_id"], connection=connection) if connection.exists(f"rq:job:{run['job_id']}") else None
                if job is not None and job.get_status() == "finished":
                    return run
        return None

    wait_until(a_ticked_job_finished, timeout=60,
               message=f"a tick run by the worker over TLS (clock: {clock.output()[-1500:]} worker: {worker.output()[-1500:]})")
    # The worker's scheduler process (delayed jobs, retries) connects over TLS too.
    wait_until(lambda: "Scheduler for sweeps started" in worker.output(), timeout=20,
               message=f"the worker's scheduler ({worker.output()[-1500:]})")
    for process in (worker, clock, web):
        assert "Traceback" not in process.output(), process.output()[-3000:]
