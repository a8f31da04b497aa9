"""The README stays true: its commands are the ones CI and the Procfile use, and its
configuration table names every environment variable the code reads."""

import re
import shlex
from pathlib import Path

from tests.test_deploy_files import _env_names_read_by_code, _procfile

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _documented_variables() -> set[str]:
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_environment_variable_read_by_the_code_is_documented():
    local_run = {"VENV_DIR", "DEV_REDIS_PORT", "PORT", "TEST_REDIS_URL"}
    read = (_env_names_read_by_code() | local_run) - {"DJANGO_SETTINGS_MODULE"}
    missing = sorted(read - _documented_variables())
    assert not missing, f"add to the README's configuration table: {missing}"


def test_readme_commands_are_the_ones_ci_runs():
    assert "```sh\npython3 dev.py up\n```" in README
    assert "```sh\npython3 dev.py test\n```" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.count("python3 dev.py test\n") == 2  # SQLite, then PostgreSQL
    # The third pass, a subset through PgBouncer, is the README's command too.
    pooled = "python3 dev.py test --pgbouncer tests/apps tests/jobs"
    assert ci.count("python3 dev.py test") == 3 and pooled in ci and pooled in README


def test_readme_process_table_matches_the_procfile():
    for name, argv in _procfile().items():
        row = next(line for line in README.splitlines() if line.startswith(f"| {name} |"))
        documented = re.search(r"`([^`]+)`", row).group(1)
        assert shlex.split(documented) == argv
