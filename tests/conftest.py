import os
import socket
import time

import pytest
from redis import Redis

from tests.settings_env import TEST_REDIS_URL


#: Modules that wait on real clocks (a minute tick, the candidate's 60 s email delay, a
#: browser stack), slowest first. They are collected early, so the xdist workers start them
#: soon, one each, and the rest of the suite runs beside them instead of after them.
SLOWEST_FIRST = (
    "tests/test_local_run.py",
    "tests/test_end_to_end.py",
    "tests/test_faults.py",
    "tests/test_fleet_faults.py",
    "tests/e2e/",
    "tests/test_clock_processes.py",
    "tests/jobs/test_job_faults.py",
)


def _database_use(item) -> int:
    """0: the test database in a transaction, 1: transactional (flushes every table after
    the test, data migrations' rows too), 2: no database; as pytest-django orders them."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    if (marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences"))) or (
        "transactional_db" in fixtures or "live_server" in fixtures
    ):
        return 1
    return 0 if marker or "db" in fixtures else 2


def pytest_collection_modifyitems(items):
    """Slowest first, within pytest-django's order: a transactional test flushes the rows
    data migrations made (the Support group), so on every worker all tests that need them
    must run before any transactional one. A slow test without the database goes first of all."""

    def key(item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        rank = next((n for n, prefix in enumerate(SLOWEST_FIRST) if path.startswith(prefix)), len(SLOWEST_FIRST))
        use = _database_use(item)
        return (-1 if use == 2 and rank < len(SLOWEST_FIRST) else use, rank)

    items.sort(key=key)  # stable: each module keeps its order, and its module-scoped fixtures


def _test_redis() -> Redis:
    connection = Redis.from_url(TEST_REDIS_URL)
    db = connection.connection_pool.connection_kwargs.get("db", 0)
    if db == 0:
        pytest.exit("TEST_REDIS_URL points at Redis database 0; tests flush their database, use another number.")
    return connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pgbouncer_lets_go_of(name: str) -> None:
    """Behind ``dev.py test --pgbouncer`` the server sessions to the test database are the
    pooler's, kept open after every client left, so DROP DATABASE would fail: end them from
    its admin console (simple query protocol: the console knows no other)."""
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(os.environ["PGBOUNCER_ADMIN_URL"], autocommit=True) as admin:
        admin.pgconn.exec_(f'KILL "{name}"'.encode())


@pytest.fixture(scope="session", autouse=True)
def _no_database_session_left_open(django_db_setup, django_db_blocker):
    """On PostgreSQL, name every session still connected to the test database at the end
    (child processes set application_name to their service): a leak is reported with its owner."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    if os.environ.get("PGBOUNCER_ADMIN_URL"):
        _pgbouncer_lets_go_of(connection.settings_dict["NAME"])
        return

    def others():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, application_name, state, left(query, 100) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchall()

    # A child process stopped by the last test closes its connection as it exits; the server
    # ends that session a moment later. Wait for it (bounded) before the database is dropped.
    deadline = time.monotonic() + 15
    with django_db_blocker.unblock():
        while (left_open := others()) and time.monotonic() < deadline:
            time.sleep(0.2)
    if left_open:
        import warnings

        warnings.warn(f"database sessions still open at the end of the run: {left_open}", stacklevel=1)


@pytest.fixture(autouse=True)
def redis_db():
    """A clean test Redis database for every test."""
    connection = _test_redis()
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts without the calendars a page of an earlier test kept (a rolled-back
    cycle's id is reused on SQLite, and a rollback sends no signal)."""
    from apps.applications.calendars import forget_display_calendars

    forget_display_calendars()
    yield
    forget_display_calendars()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Fast password hashing (many users per test), and static files without collectstatic."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def processes(request, tmp_path):
    """Start real processes with ``processes.start(name, args, env)``; all are stopped at teardown.

    They use the test database (``child_env``: a clock records its ticks there, a worker its
    work), so the test must be transactional: its rows then reach them, and theirs are
    flushed after it instead of leaking into the next test on this xdist worker."""
    from tests.processes import Process

    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        pytest.fail("a test that starts processes must be marked django_db(transaction=True)", pytrace=False)

    started = []

    class Starter:
        log_dir = tmp_path

        def start(self, name, args, env):
            process = Process(name, args, env, tmp_path)
            started.append(process)
            return process

    yield Starter()
    for process in reversed(started):
        process.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Keep(Message):
        def __init__(self):
            super().__init__()
            self.messages = []
            self.first_received_at = {}  # Message-ID -> epoch seconds when first accepted
            self.sessions = set()  # one per SMTP connection that delivered a message

        def prepare_message(self, session, envelope):
            self.sessions.add(id(session))
            return super().prepare_message(session, envelope)

        def handle_message(self, message):
            self.messages.append(message)
            self.first_received_at.setdefault(message["Message-ID"], time.time())

    handler = Keep()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()
