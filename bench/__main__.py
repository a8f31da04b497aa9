"""Benchmark suite: PostgreSQL and real Redis, real processes started from the Procfile.

    python3 dev.py bench [--applications N] [--scenario NAME ...] [--sizes 100000,300000,1000000]
    .venv/bin/python -m bench ...        the same, without dev.py's virtualenv check

Scenarios (all by default, in this order): seed, sweeps, lists, spike, workers, email-cap. Each size is
seeded once and reused by the scenarios of that size (and by the next run of that size);
``seed`` reseeds and times it. Prints a table per scenario and writes everything to
``bench/results/<UTC timestamp>.json``.

Defaults: DATABASE_URL postgres://postgres@127.0.0.1:5432/apply_bench (created when
missing), REDIS_URL redis://127.0.0.1:6379/11 (flushed; databases 0 and 12-15 refused).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import prerequisites

SCENARIOS = ["seed", "sweeps", "lists", "spike", "workers", "email-cap"]
RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=1_000_000, help="applications to seed (default 1,000,000)")
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. 100000,300000,1000000: every scenario at each, "
                        "and a growth table (overrides --applications)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    parser.add_argument("--spike-timeout", type=float, default=1200, help="most seconds any wait of the spike may take")
    parser.add_argument("--naive-seconds", type=float, default=60, help="time budget of the naive baseline")
    parser.add_argument("--naive-max", type=int, default=3000, help="most applications the naive baseline handles")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="seconds of load per list page")
    email = parser.add_argument_group("email-cap", "the judged email scenario (bench/email_cap.py)")
    email.add_argument("--email-cap", type=int, default=3000, help="the provider's cap per sliding minute")
    email.add_argument("--email-service-percent", type=int, default=98,
                       help="the service's cap (EMAIL_RATE_PER_MINUTE) as a percentage of the provider's")
    email.add_argument("--email-burst", type=int, default=20_000, help="chasers in the hourly-style burst")
    email.add_argument("--email-deadlines-per-minute", type=int, default=1000, help="deadlines falling per minute")
    email.add_argument("--email-deadline-minutes", type=float, default=3,
                       help="minutes the deadlines keep falling (0: that many all due at the start)")
    email.add_argument("--email-workers", type=int, default=3, help="workers (the Procfile's command)")
    email.add_argument("--email-kills", type=int, default=10, help="workers SIGKILLed during the run (each replaced)")
    email.add_argument("--email-bulk-window", type=int, default=0, help="EMAIL_BULK_WINDOW_SECONDS for the run")
    email.add_argument("--email-bulk-percent", type=int, default=100, help="EMAIL_BULK_MAX_PERCENT for the run")
    email.add_argument("--email-lease-seconds", type=int, default=0,
                       help="OUTBOX_LEASE_SECONDS for the run (0: the service's default)")
    email.add_argument("--email-requeue-seconds", type=int, default=0,
                       help="OUTBOX_REQUEUE_AFTER_SECONDS for the run (0: the service's default)")
    email.add_argument("--email-timeout", type=float, default=1800, help="most seconds the run may take")
    parser.add_argument("--output", type=Path, help="JSON file to write (default bench/results/<UTC timestamp>.json)")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else [args.applications]
    args.scenario = [name for name in SCENARIOS if name in (args.scenario or SCENARIOS)]
    return args


def _environment() -> None:
    os.environ.setdefault("DATABASE_URL", prerequisites.DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", prerequisites.DEFAULT_REDIS_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
    # testserver: the in-process requests that count each page's queries (Django's test client).
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_FORMAT", "text")
    # The spike measures how fast the service sends against a raw SMTP sender: without the
    # provider's caps (production's defaults would hold 200,000 emails to 50/s). Set these to
    # measure the capped path instead.
    for name in ("EMAIL_RATE_PER_SECOND", "EMAIL_RATE_PER_MINUTE", "EMAIL_DAILY_BUDGET"):
        os.environ.setdefault(name, "0")


def _command(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    from django.db import connection

    from apps.core.redis import redis_connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "postgresql_shared_buffers": shared_buffers,
        "redis": redis_connection().info("server")["redis_version"],
        "wrk": _command([prerequisites.wrk_path() or "wrk", "-v"]).splitlines()[0] if prerequisites.wrk_path() else "",
        "git_commit": _command(["git", "rev-parse", "--short", "HEAD"]),
    }


def run_size(size: int, args) -> dict:
    from bench import report, seed

    print(f"\n=== {size:,} applications ===", flush=True)
    result = {"applications": size, "scenarios": {}}
    started = time.monotonic()
    if "seed" in args.scenario:
        print("\n--- seed ---", flush=True)
        timings = seed.seed(applications=size)
        result["scenarios"]["seed"] = {"status": "ok", **timings, "table": {
            "headers": ["seed phase", "seconds"],
            "rows": [[key.removesuffix("_s"), value] for key, value in timings.items() if key.endswith("_s")]}}
        report.print_scenario("seed", result["scenarios"]["seed"])
    else:
        result["seed"] = seed.ensure_seeded(applications=size)
        if not result["seed"]["reused"]:
            print(f"seeded in {result['seed']['total_s']:.0f} s", flush=True)
    result["seed_s"] = time.monotonic() - started
    for name in args.scenario:
        if name == "seed":
            continue
        print(f"\n--- {name} ({size:,}) ---", flush=True)
        started = time.monotonic()
        try:
            figures = _scenario(name)(size=size, args=args)
            figures = {"status": "ok", **figures}
        except Exception as exc:  # a failed scenario is reported, the others still run
            from bench.processes import ScenarioFailed

            if not isinstance(exc, ScenarioFailed):
                import traceback

                traceback.print_exc()
            figures = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            print(f"{name} FAILED: {exc}", flush=True)
        figures["wall_s"] = time.monotonic() - started
        result["scenarios"][name] = figures
        report.print_scenario(name, figures)
    return result


def _scenario(name: str):
    if name == "sweeps":
        from bench.sweeps import run
    elif name == "lists":
        from bench.lists import run
    elif name == "spike":
        from bench.spike import run
    elif name == "workers":
        from bench.workers import run
    elif name == "email-cap":
        from bench.email_cap import run
    else:
        raise ValueError(name)
    return run


def main(argv=None) -> int:
    args = _parse(argv)
    _environment()
    missing = prerequisites.check(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        need_smtp="spike" in args.scenario,
        need_wrk="lists" in args.scenario,
    )
    if missing:
        print("bench: cannot run, missing:", file=sys.stderr)
        for item in missing:
            print(f"  - {item}", file=sys.stderr)
        return 2
    if prerequisites.ensure_database(os.environ["DATABASE_URL"]):
        print(f"bench: created database {os.environ['DATABASE_URL'].rsplit('/', 1)[1]}", flush=True)

    import django

    django.setup()
    from bench import report

    run = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python3 dev.py bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "database_url": os.environ["DATABASE_URL"],
        "redis_url": os.environ["REDIS_URL"],
        "sizes": [],
    }
    output = args.output or RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        run["sizes"].append(run_size(size, args))
        output.write_text(json.dumps(run, indent=2, default=str))  # each size as soon as it is done
    run["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    output.write_text(json.dumps(run, indent=2, default=str))
    report.print_summary(run)
    print(f"\nJSON: {output}")
    failed = [(s["applications"], name) for s in run["sizes"] for name, f in s["scenarios"].items()
              if f.get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
