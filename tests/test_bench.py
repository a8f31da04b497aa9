"""The benchmark suite runs: seed and sweep cost at a tiny size (PostgreSQL only; no timed assertions)."""

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


@pytest.mark.processes
@pytest.mark.timeout(300)
def test_seed_and_sweep_cost_scenarios_run_at_a_tiny_size(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the benchmarks measure PostgreSQL; run with DATABASE_URL=postgres://... to include this test")
    import psycopg

    database_url = _bench_database_url()
    output = tmp_path / "result.json"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "BENCH_ALLOW_TEST_REDIS": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--applications", "2000", "--scenario", "seed", "--scenario", "sweeps",
             "--output", str(output)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )
    finally:
        admin = prerequisites.admin_url(database_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads(output.read_text())
    (size,) = run["sizes"]
    assert size["applications"] == 2000
    assert size["scenarios"]["seed"]["status"] == "ok"
    sweeps = size["scenarios"]["sweeps"]
    assert sweeps["status"] == "ok", sweeps.get("error")
    assert sweeps["nothing_due"]["reject_due"]["returned"] == 0
    assert sweeps["due_1000"]["reject_due"]["returned"] > 0
    assert "application_rbd_due" in sweeps["due_1000"]["reject_due"]["plans"][0]["plan"]
