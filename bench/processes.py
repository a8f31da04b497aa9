"""Processes the benchmarks start as users start them (Procfile lines), on loopback, always stopped."""

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ScenarioFailed(RuntimeError):
    """A scenario could not finish (a wait ran past its bound, a process died); the message says which."""


def procfile() -> dict[str, list[str]]:
    """The Procfile's commands, split into argv (the single source of the start commands)."""
    import dev  # the repository's runner; reading its Procfile needs nothing but the stdlib

    return {name: shlex.split(command) for name, command in dev.procfile().items()}


def with_venv_python(argv: list[str]) -> list[str]:
    """``python ...`` in the Procfile means this interpreter (the venv's); other programs come from its bin/."""
    if argv[0] in {"python", "python3"}:
        return [sys.executable, *argv[1:]]
    local = Path(sys.executable).parent / argv[0]
    return [str(local) if local.exists() else argv[0], *argv[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str):
    """Poll ``predicate`` until it returns something truthy; raise ScenarioFailed past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Started:
    """One child process with its log in a temporary directory; ``stop`` sends SIGTERM then SIGKILL."""

    log_dir = Path(tempfile.mkdtemp(prefix="apply-bench-"))

    def __init__(self, name: str, argv: list[str], env: dict, *, cwd: Path = ROOT):
        self.name = name
        self.log_path = self.log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")
        # Own process group: stopping it also reaches a worker's work horses.
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 40) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=10)
        self.log.close()


class ProcessGroup:
    """Processes started inside a ``with`` block, stopped in reverse order when it ends, whatever happens."""

    def __init__(self):
        self.started: list[Started] = []

    def start(self, name: str, argv: list[str], env: dict) -> Started:
        process = Started(name, argv, env)
        self.started.append(process)
        return process

    def check_alive(self) -> None:
        for process in self.started:
            if not process.alive():
                raise ScenarioFailed(f"{process.name} exited ({process.popen.returncode}); last lines of "
                                     f"{process.log_path}:\n{process.tail()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in reversed(self.started):
            process.stop()
        return False


def child_env(**overrides) -> dict:
    """This process's environment (DATABASE_URL, REDIS_URL, secret key set by the CLI) plus overrides."""
    env = {key: value for key, value in os.environ.items() if key != "SERVICE_NAME"}
    env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"})
    env.update({key: str(value) for key, value in overrides.items()})
    return env
