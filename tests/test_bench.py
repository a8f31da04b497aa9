"""The benchmark suite runs: every scenario at a small size, with its exactly-once checks
(PostgreSQL only; no timed assertions). A change that breaks a scenario (a role the seed gives
the old way, a page the lists cannot find, an email sent twice) fails here, not in a run at 1M."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from bench import prerequisites
from tests.settings_env import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def test_bench_refuses_the_redis_databases_of_the_local_run_and_the_tests():
    for url in ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379", "redis://127.0.0.1:6379/15"):
        missing = prerequisites.check(database_url="postgres://x@127.0.0.1:1/x", redis_url=url,
                                      need_smtp=False, need_wrk=False)
        assert any("would flush" in str(item) for item in missing), url


def test_bench_says_what_to_install_for_a_database_that_is_not_postgresql():
    missing = prerequisites.check(database_url="sqlite:///x.sqlite3", redis_url="redis://127.0.0.1:6379/11",
                                  need_smtp=False, need_wrk=False)
    assert any("not PostgreSQL" in str(item) for item in missing)


def _bench_database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    name = f"{db['NAME']}_bench_{os.getpid()}"
    return f"postgres://{db.get('USER') or ''}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


#: The judged email scenario at a tiny size: a 1,200/min provider, 300 chasers beside 60 deadlines,
#: 2 workers, one killed; a shorter lease and requeue so the killed job's emails heal within a minute or two.
EMAIL_CAP_TINY = ["--email-cap", "1200", "--email-burst", "300", "--email-deadlines-per-minute", "60",
                  "--email-deadline-minutes", "0", "--email-workers", "2", "--email-kills", "1",
                  "--email-lease-seconds", "15", "--email-requeue-seconds", "20", "--email-timeout", "300"]


@pytest.mark.processes
@pytest.mark.timeout(780)
def test_every_scenario_runs_at_a_small_size(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the benchmarks measure PostgreSQL; run with DATABASE_URL=postgres://... to include this test")
    import psycopg

    database_url = _bench_database_url()
    output = tmp_path / "result.json"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "BENCH_ALLOW_TEST_REDIS": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--applications", "3000", "--wrk-seconds", "1", "--naive-seconds", "3",
             "--spike-timeout", "300", *EMAIL_CAP_TINY, "--output", str(output)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=720,
        )
    finally:
        admin = prerequisites.admin_url(database_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads(output.read_text())
    (size,) = run["sizes"]
    assert size["applications"] == 3000
    failed = {name: f.get("error") for name, f in size["scenarios"].items() if f.get("status") != "ok"}
    assert not failed, failed
    assert set(size["scenarios"]) == {"seed", "sweeps", "lists", "spike", "workers", "email-cap"}
    sweeps = size["scenarios"]["sweeps"]
    assert sweeps["status"] == "ok", sweeps.get("error")
    assert sweeps["nothing_due"]["reject_due"]["returned"] == 0
    assert sweeps["due_1000"]["reject_due"]["returned"] > 0
    assert "application_rbd_due" in sweeps["due_1000"]["reject_due"]["plans"][0]["plan"]
    lists = size["scenarios"]["lists"]["pages"]
    for role in ("support", "provider", "candidate"):
        assert f"{role} first page" in lists and f"{role} detail page" in lists, sorted(lists)
    assert all(page["non2xx"] == 0 and page["requests"] > 0 for page in lists.values())
    spike = size["scenarios"]["spike"]
    assert spike["ours"]["states_after"] == {"rejected": 300}
    assert spike["ours"]["smtp_sink"]["messages"] == spike["ours"]["emails_sent"] == 600
    assert spike["raw_smtp"]["emails"] == 600
    email = size["scenarios"]["email-cap"]
    assert email["max_offered_any_minute"] <= email["provider_cap_per_minute"] == 1200
    assert email["accepted"] - email["duplicates"] == email["emails_expected"] == 300 + 2 * 60
    assert (email["emails_lost"], email["refused_by_provider"]) == (0, 0)
    assert email["duplicates"] <= email["kills"] == 1
