"""What the benchmarks need on the machine, checked before anything runs, with the package to install."""

import os
import shutil
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/apply_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
#: Redis databases the bench must never flush: the local run (0) and the tests (12-15).
FORBIDDEN_REDIS_DBS = {0, 12, 13, 14, 15}
SMTP_SINK = "/usr/sbin/smtp-sink"


@dataclass(frozen=True)
class Missing:
    what: str
    fix: str

    def __str__(self):
        return f"{self.what}\n    fix: {self.fix}"


def smtp_sink_path() -> str | None:
    return shutil.which("smtp-sink") or shutil.which(SMTP_SINK)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def redis_db(url: str) -> int:
    path = urlparse(url).path.strip("/")
    return int(path) if path else 0


def _redis_answers(url: str) -> str | None:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
            return None if reply.startswith(b"+PONG") else f"answered {reply!r}"
    except OSError as exc:
        return str(exc)


def _postgres_error(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(admin_url(url), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def admin_url(url: str) -> str:
    """The same server, database ``postgres`` (to create the bench database)."""
    parsed = urlparse(url)
    return parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)


def check(*, database_url: str, redis_url: str, need_smtp: bool, need_wrk: bool) -> list[Missing]:
    """Everything missing for the scenarios asked for; an empty list when the machine is ready."""
    missing = []
    if not database_url.startswith(("postgres://", "postgresql://")):
        missing.append(Missing(f"DATABASE_URL is not PostgreSQL: {database_url}",
                               "the benchmarks measure PostgreSQL; unset DATABASE_URL or point it at one"))
    else:
        error = _postgres_error(database_url)
        if error:
            missing.append(Missing(f"PostgreSQL not reachable at {urlparse(database_url).netloc}: {error}",
                                   "apt-get install postgresql (and start it), or set DATABASE_URL"))
    forbidden = FORBIDDEN_REDIS_DBS
    if os.environ.get("BENCH_ALLOW_TEST_REDIS") == "1":  # tests/test_bench.py runs the bench on its own database
        forbidden = {0}
    if redis_db(redis_url) in forbidden:
        missing.append(Missing(f"REDIS_URL uses database {redis_db(redis_url)}, which the bench would flush",
                               "use another database number (default 11; 0 is the local run, 12-15 the tests)"))
    error = _redis_answers(redis_url)
    if error:
        missing.append(Missing(f"Redis not reachable at {urlparse(redis_url).netloc}: {error}",
                               "apt-get install redis-server (and start it), or set REDIS_URL"))
    if need_smtp and not smtp_sink_path():
        missing.append(Missing("smtp-sink not found (the spike's SMTP server)", "apt-get install postfix"))
    if need_wrk and not wrk_path():
        missing.append(Missing("wrk not found (the list pages' load tool)", "apt-get install wrk"))
    return missing


def ensure_database(database_url: str) -> bool:
    """Create the bench database when it does not exist; True if it was created."""
    import psycopg
    from psycopg import sql

    name = urlparse(database_url).path.strip("/")
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
