"""Sentry: off unless SENTRY_DSN is set; when on, errors of web, worker and clock reach it
with the service, request id and job id as tags, and nothing personal.

A real receiver on loopback records what the SDK posts (its envelope endpoint), so the
SDK's own transport, compression and scrubbing are what is tested. This module is also
the URLconf of the in-process web test (``urlpatterns`` below: one view that raises).
"""

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
import sentry_sdk
from django.urls import include, path

from apps.monitoring.sentry import sentry_init
from tests.conftest import free_port
from tests.factories import make_user
from tests.processes import child_env, clock_args, wait_until


def _boom(request):
    raise RuntimeError("view failed on purpose")


# The service's own URLs too: the 500 page links to them.
urlpatterns = [path("boom/", _boom), path("", include("config.urls"))]


class Receiver:
    """A stand-in for Sentry's ingestion: keeps the events of every envelope POSTed to it."""

    def __init__(self):
        self.events: list[dict] = []
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.raw.append(body)
                receiver.paths.append(self.path)
                lines = body.split(b"\n")
                # Envelope: a header line, then (item header, payload) pairs.
                for header, payload in zip(lines[1::2], lines[2::2]):
                    if header.strip() and json.loads(header).get("type") == "event":
                        receiver.events.append(json.loads(payload))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def event_where(self, predicate):
        return next((event for event in self.events if predicate(event)), None)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def sentry_in_process(receiver):
    sentry_init(dsn=receiver.dsn, environment="tests", traces_sample_rate=0, service="web")
    yield receiver
    sentry_sdk.flush(timeout=5)
    sentry_sdk.init()  # no DSN: the SDK is off again for the tests that follow


def test_sentry_is_off_by_default(settings):
    assert settings.SENTRY_DSN == ""
    # No DSN, no transport: nothing leaves the process (a test below turns it on and off again).
    assert not sentry_sdk.get_client().dsn and sentry_sdk.get_client().transport is None


@pytest.mark.django_db
def test_a_failing_view_is_reported_with_its_request_id_and_nothing_personal(client, settings, sentry_in_process):
    settings.ROOT_URLCONF = "tests.test_sentry"
    user = make_user(username="alice.personal", first_name="Alice")  # email: alice.personal@example.com
    client.force_login(user)
    session_cookie = client.cookies["sessionid"].value
    client.raise_request_exception = False

    response = client.get("/boom/?q=alice.personal", headers={"X-Request-ID": "req-sentry-1"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    event = wait_until(
        lambda: sentry_in_process.event_where(lambda e: e.get("tags", {}).get("request_id") == "req-sentry-1"),
        timeout=10, message="the view's event at the receiver",
    )
    assert sentry_in_process.paths[0] == "/api/1/envelope/"
    assert event["tags"]["service"] == "web"
    assert event["environment"] == "tests"
    assert event["exception"]["values"][-1]["value"] == "view failed on purpose"
    text = json.dumps(event)
    for personal in ("alice", "Alice", session_cookie, "sessionid"):
        assert personal not in text, personal
    assert "user" not in event or set(event["user"]) <= {"id"}
    assert "cookies" not in event.get("request", {})


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_reported_from_a_real_worker_with_its_job_id(processes, receiver):
    # Bad arguments: the job raises at once, and a job enqueued without Retry fails for good.
    job = django_rq.get_queue("default").enqueue("jobs.applications.applications_decline_by_default", "alice,2")
    worker = processes.start(
        "worker",
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        child_env(SENTRY_DSN=receiver.dsn, SENTRY_ENVIRONMENT="tests"),
    )
    event = wait_until(
        lambda: receiver.event_where(lambda e: e.get("tags", {}).get("job_id") == job.id and "exception" in e),
        timeout=60, message=f"the job's event at the receiver ({worker.output()[-2000:]})",
    )
    assert event["tags"]["service"] == "worker"
    assert "BadJobArguments" in json.dumps(event["exception"])
    # The job's arguments are not sent (they can hold anything a caller passed), neither as
    # such nor inside RQ's description of the call.
    rq_job = event["extra"]["rq-job"]
    assert rq_job["job_id"] == job.id and rq_job["func"] == "jobs.applications.applications_decline_by_default"
    assert "alice" not in json.dumps(rq_job)


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_the_clock_reports_its_errors_too(processes, receiver):
    # Nothing listens on this port: the clock logs its Redis error (and keeps retrying).
    clock = processes.start(
        "clock", clock_args(), child_env(SENTRY_DSN=receiver.dsn, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    )
    event = wait_until(
        lambda: receiver.event_where(lambda e: e.get("tags", {}).get("service") == "clock"),
        timeout=60, message=f"the clock's event at the receiver ({clock.output()[-2000:]})",
    )
    assert "Redis error" in json.dumps(event)
