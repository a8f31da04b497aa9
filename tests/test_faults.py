"""Breaking things on purpose: workers killed with SIGKILL again and again during a sweep
of thousands of due applications. Every application ends rejected once, every email is
delivered at least once, and duplicates are bounded by the kills."""

import collections
import os
import random
import time
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone
from rq.worker import Worker

from apps.applications.models import Application, ApplicationEvent, ApplicationState
from apps.core.redis import redis_connection
from apps.outbox.models import OutboxEmail, OutboxStatus
from tests.factories import make_course, make_cycle, make_user
from tests.processes import child_env, clock_args, wait_until, worker_args

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.timeout(600)]
S = ApplicationState
APPLICATIONS = 1500
MID_JOB_KILLS = 8  # kills, each of a worker running a job
KILL_FOR_AT_MOST_SECONDS = 240


def fast_sweeps_env(smtp_server, **overrides) -> dict:
    """Child processes with second-level sweeps, SMTP to the test's server, short claims and leases."""
    settings = {
        "CLOCK_TIMETABLE": "tests.clock_timetables.FAST_SWEEPS",
        "CLOCK_POLL_INTERVAL": "0.2",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_server.port,
        "APPLY_CLAIM_TTL_SECONDS": 8,  # production: 180 s
        "OUTBOX_LEASE_SECONDS": 5,  # production: 60 s
        "OUTBOX_REQUEUE_AFTER_SECONDS": 10,  # production: 120 s
        "APPLY_CANDIDATE_EMAIL_DELAY_SECONDS": 0,  # production: 60 s
        "APPLY_BATCH_SIZE": 50,
    }
    return child_env(**{**settings, **overrides})


def seed_due_applications(count: int) -> None:
    """``count`` applications a minute past their reject-by-default deadline, a third interviewing."""
    course, cycle = make_course(), make_cycle()
    candidates = [make_user() for _ in range(20)]
    due = timezone.now() - timedelta(minutes=1)
    Application.objects.bulk_create(
        Application(candidate=candidates[n % 20], course=course, provider_id=course.provider_id, cycle=cycle,
                    state=S.AWAITING_PROVIDER_DECISION if n % 3 else S.INTERVIEWING, reject_by_default_at=due)
        for n in range(count)
    )


def running_jobs(connection) -> dict[int, str]:
    """pid -> id of the job each live worker is running now (RQ's worker registry)."""
    return {
        worker.pid: worker.get_current_job_id()
        for worker in Worker.all(connection=connection)
        if worker.get_state() == "busy" and worker.get_current_job_id()
    }


def wait_for_busy_workers(connection, workers, timeout: float) -> list[int]:
    """Indexes of the workers running a job, as soon as there is one (empty after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        running = running_jobs(connection)
        busy = [index for index, worker in enumerate(workers) if worker.pid in running]
        if busy or time.monotonic() > deadline:
            return busy
        time.sleep(0.1)


def work_left() -> bool:
    """Whether a due application is still unrejected or an email still unsent."""
    return (
        Application.objects.exclude(state=S.REJECTED).exists()
        or OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists()
    )


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (a job in a child would be)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def test_repeated_sigkill_of_workers_loses_nothing_and_changes_nothing_twice(processes, smtp_server):
    seed_due_applications(APPLICATIONS)
    env = fast_sweeps_env(smtp_server, APPLY_BATCH_SIZE=100, LOG_LEVEL="WARNING")
    processes.start("clock", clock_args(), env)
    workers = [processes.start(f"worker{n}", worker_args(), env) for n in range(3)]
    rng = random.Random(7)
    connection = redis_connection()
    kills = 0
    # Kill by condition, never by a wall-clock window: on a busy machine restarted workers
    # take seconds to boot, and a fixed window mostly hit idle ones. Each round waits (bounded)
    # for a worker that is running a job and kills that one; a round that finds none kills
    # nothing (an idle kill proves nothing and costs a restart). The rounds stop once enough
    # kills have landed mid-job, or the work is out.
    started = time.monotonic()
    while kills < MID_JOB_KILLS and time.monotonic() - started < KILL_FOR_AT_MOST_SECONDS:
        time.sleep(rng.uniform(0.3, 1.2))
        busy = wait_for_busy_workers(connection, workers, timeout=15)
        if not busy:
            if not work_left():
                break
            continue
        victim = rng.choice(busy)
        workers[victim].kill()
        kills += 1
        # SIGKILL is delivered to the whole group at once, but a busy machine may take a moment
        # to run each member to its end: wait (bounded) for the group to be gone.
        wait_until(lambda: not process_group_alive(workers[victim].pid), timeout=10,
                   message="every process of the killed worker's group to end (a job outlived its worker)")
        workers[victim] = processes.start(f"worker{kills + 3}", worker_args(), env)
    kill_seconds = time.monotonic() - started
    last_kill = time.monotonic()

    wait_until(lambda: not work_left(), timeout=240, interval=1, message="every application rejected and every email sent")
    recovery = time.monotonic() - last_kill

    wrong_states = Application.objects.exclude(state=S.REJECTED).count()
    events = collections.Counter(
        ApplicationEvent.objects.filter(kind="reject_by_default").values_list("application_id", flat=True)
    )
    duplicate_events = sum(count - 1 for count in events.values())
    keys = OutboxEmail.objects.count()
    sent_ids = collections.Counter(message["Message-ID"] for message in smtp_server.messages)
    duplicate_emails = sum(count - 1 for count in sent_ids.values())
    # The at-least-once window: SMTP server accepted the message -> row marked sent.
    windows = sorted(
        (email.sent_at.timestamp() - smtp_server.first_received_at[email.message_id]) * 1000
        for email in OutboxEmail.objects.all()
    )
    print(
        f"\nwindow accepted->marked sent: p50={windows[len(windows) // 2]:.1f}ms "
        f"p99={windows[int(len(windows) * 0.99)]:.1f}ms max={windows[-1]:.1f}ms"
    )
    print(
        f"\nkills={kills} (all mid-job, in {kill_seconds:.0f}s) applications={APPLICATIONS} wrong_states={wrong_states} "
        f"duplicate_events={duplicate_events} outbox_keys={keys} delivered={len(sent_ids)} "
        f"duplicate_emails={duplicate_emails} recovery_after_last_kill={recovery:.1f}s"
    )
    assert kills >= MID_JOB_KILLS, f"only {kills} kills landed mid-job in {kill_seconds:.0f}s: the test proves little"
    assert wrong_states == 0
    assert len(events) == APPLICATIONS and duplicate_events == 0
    assert keys == 2 * APPLICATIONS and len(sent_ids) == keys  # every key delivered at least once
    # At most one per crash: each email is marked sent in its own commit once the server accepted it.
    assert duplicate_emails <= kills
    assert Application.objects.values("rejected_by_default").annotate(n=Count("pk")).get()["n"] == APPLICATIONS


def test_redis_restarted_during_a_sweep_workers_and_clock_carry_on(processes, smtp_server, tmp_path):
    """Redis (with its append-only file, as in docker-compose.yml) is killed mid-sweep and restarted."""
    from redis import Redis

    from tests.conftest import free_port
    from tests.processes import redis_pings, redis_server_args

    port = free_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    redis_args = [*redis_server_args(port)[:-2], "--appendonly", "yes", "--dir", str(data)]
    server = processes.start("redis", redis_args, {})
    connection = Redis(port=port)
    wait_until(lambda: redis_pings(connection), timeout=10, message="private redis")

    count = 600
    seed_due_applications(count)
    env = fast_sweeps_env(smtp_server, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    clock = processes.start("clock", clock_args(), env)
    workers = [processes.start(f"worker{n}", worker_args(), env) for n in range(2)]
    wait_until(lambda: Application.objects.filter(state=S.REJECTED).exists(), timeout=60, message="the sweep to start")

    server.kill()
    time.sleep(3)
    assert clock.popen.poll() is None and all(w.popen.poll() is None for w in workers), "a process died with Redis"
    processes.start("redis-again", redis_args, {})
    wait_until(lambda: redis_pings(connection), timeout=10, message="redis back")
    restarted = time.monotonic()

    def done():
        return (
            Application.objects.filter(state=S.REJECTED).count() == count
            and not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists()
        )

    wait_until(done, timeout=180, interval=1, message="the sweep to finish after the restart")
    print(f"\nRedis restart: all {count} rejected and {2 * count} emails sent "
          f"{time.monotonic() - restarted:.1f}s after Redis came back")
    assert clock.popen.poll() is None and all(w.popen.poll() is None for w in workers)
    events = collections.Counter(
        ApplicationEvent.objects.filter(kind="reject_by_default").values_list("application_id", flat=True)
    )
    assert len(events) == count and set(events.values()) == {1}
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 2 * count



def test_database_unreachable_for_a_while_jobs_fail_retry_and_finish_once(processes, smtp_server):
    """PostgreSQL only: the workers reach the database through a proxy the test cuts for 8 s."""
    from django.db import connection

    from tests.tcp_proxy import TcpProxy

    if connection.vendor != "postgresql":
        pytest.skip("needs a networked database (run with DATABASE_URL=postgres://...)")
    count = 400
    seed_due_applications(count)
    proxy = TcpProxy(int(connection.settings_dict.get("PORT") or 5432))
    env = fast_sweeps_env(smtp_server)
    env["DATABASE_URL"] = env["DATABASE_URL"].replace(
        f":{connection.settings_dict.get('PORT') or 5432}/", f":{proxy.port}/"
    ).replace("@localhost/", f"@127.0.0.1:{proxy.port}/")
    assert f":{proxy.port}/" in env["DATABASE_URL"]
    proxy.down()  # the database is unreachable from the start of the sweep
    processes.start("clock", clock_args(), env)
    workers = [processes.start(f"worker{n}", worker_args(), env) for n in range(2)]
    time.sleep(8)
    assert Application.objects.filter(state=S.REJECTED).count() == 0
    proxy.up()
    wait_until(
        lambda: Application.objects.filter(state=S.REJECTED).count() == count
        and not OutboxEmail.objects.exclude(status=OutboxStatus.SENT).exists(),
        timeout=180, interval=1, message="the sweep to finish once the database is back",
    )
    proxy.down()
    assert all(worker.popen.poll() is None for worker in workers)
    events = collections.Counter(
        ApplicationEvent.objects.filter(kind="reject_by_default").values_list("application_id", flat=True)
    )
    assert len(events) == count and set(events.values()) == {1}
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 2 * count
    assert any("OperationalError" in worker.output() for worker in workers)
