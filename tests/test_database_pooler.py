"""DATABASE_POOLER=pgbouncer: what a pooler in transaction mode needs is turned off (server-side
cursors, prepared statements); a bad value stops the start with a clear message. The pass that
runs the suite through a real pgbouncer is ``python3 dev.py test --pgbouncer`` (.ci/run)."""

import json
import os
import subprocess
import sys

from tests.processes import ROOT

PRINT = ("import django, json; django.setup(); from django.conf import settings; d = settings.DATABASES['default'];"
         " print(json.dumps({'cursors': d.get('DISABLE_SERVER_SIDE_CURSORS', False),"
         " 'prepare': d['OPTIONS'].get('prepare_threshold', 'default')}))")


def _settings(**env):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "x", **env}
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=environment, capture_output=True, text=True)


def test_behind_pgbouncer_no_server_side_cursors_and_no_prepared_statements():
    result = _settings(DATABASE_URL="postgres://u@127.0.0.1:6432/apply", DATABASE_POOLER="pgbouncer")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"cursors": True, "prepare": None}
    direct = _settings(DATABASE_URL="postgres://u@127.0.0.1:5432/apply", DATABASE_POOLER="")
    assert json.loads(direct.stdout.splitlines()[-1]) == {"cursors": False, "prepare": "default"}


def test_a_bad_pooler_setting_stops_the_start_saying_why():
    result = _settings(DATABASE_URL="postgres://u@127.0.0.1:6432/apply", DATABASE_POOLER="pgpool")
    assert result.returncode != 0 and "DATABASE_POOLER must be empty or 'pgbouncer'" in result.stderr
    result = _settings(DATABASE_URL="sqlite:////tmp/x.sqlite3", DATABASE_POOLER="pgbouncer")
    assert result.returncode != 0 and "needs a postgres:// DATABASE_URL" in result.stderr
