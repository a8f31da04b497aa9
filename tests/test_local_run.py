"""The README's run command, run as a new user would: ``python3 dev.py up`` with no Redis
answering on its port. It starts Redis itself, migrates SQLite, loads the demo data, runs
web, worker and clock, and within about two minutes the demo applications are rejected by
default; Ctrl-C (SIGINT to the process group) stops everything."""

import http.cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.processes import wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.processes, pytest.mark.timeout(420)]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _login(port: int, username: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://127.0.0.1:{port}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": username, "password": "demo-password", "csrfmiddlewaretoken": token})
    opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/login/", data=data.encode()), timeout=10)
    return opener


def test_dev_py_up_runs_the_whole_service_and_rejects_the_demo_applications(tmp_path):
    from django.db import connection

    if connection.vendor != "sqlite":
        # The local run is SQLite by design (its own file, below), whatever the suite's
        # database: the SQLite pass runs it, a second pass would repeat it word for word.
        pytest.skip("the local run uses its own SQLite database; run by the SQLite pass")
    web_port, redis_port = free_port(), free_port()
    database = tmp_path / "local.sqlite3"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_SECURE_SSL_REDIRECT"}
    }
    env.update(
        VENV_DIR=sys.prefix,
        PORT=str(web_port),
        DEV_REDIS_PORT=str(redis_port),
        DATABASE_URL=f"sqlite:///{database}",
        APP_DATA_DIR=str(tmp_path),
    )
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen(
        [sys.executable, "dev.py", "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = lambda: (tmp_path / "up.log").read_text(errors="replace")  # noqa: E731
    try:
        wait_until(lambda: _answers(web_port), timeout=90, message=f"/healthz on port {web_port}")
        assert f"started redis-server" in output()
        due = [int(pk) for pk in re.search(r"Demo: applications ([\d, ]+) will be", output()).group(1).split(", ")]

        def states():
            with sqlite3.connect(database, timeout=10) as db:
                marks = ",".join("?" * len(due))
                return dict(db.execute(f"select id, state from applications_application where id in ({marks})", due))

        wait_until(
            lambda: set(states().values()) == {"rejected"}, timeout=240, interval=2,
            message="the demo applications to be rejected by default",
        )
        page = _login(web_port, "support").open(f"http://127.0.0.1:{web_port}/{due[0]}/", timeout=10).read().decode()
        assert "jobs.applications.applications_reject_by_default" in page
        assert f"Message-ID: <rbd.provider.{due[0]}@apply.localhost>" in output()
        wait_until(  # the candidate hears a minute after the provider
            lambda: f"Message-ID: <rbd.candidate.{due[0]}@apply.localhost>" in output(), timeout=100, interval=2,
            message="the candidate's email in the worker's console log",
        )
    finally:
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            returncode = up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
    print(output()[-3000:])
    assert not _answers(web_port)
    assert "worker stopped" in output() and "clock stopped" in output()
    time.sleep(0.5)
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
    assert returncode in (0, 130), output()[-2000:]
