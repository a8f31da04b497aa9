"""gunicorn as the Procfile starts it: every line it writes is JSON with the service's fields,
the access line names the signed-in user by id only, and two instances on one host do not
share gunicorn 27's control socket."""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import free_port
from tests.factories import make_user
from tests.processes import child_env, wait_until
from tests.test_deploy_files import _procfile

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def start_web(processes, tmp_path, name, **env):
    port = free_port()
    environment = child_env(
        DJANGO_STATIC_ROOT=tmp_path / "static",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        HOME=tmp_path / "home",
        **env,
    )
    environment.pop("XDG_RUNTIME_DIR", None)  # gunicorn's default socket would go there instead of HOME
    if "GUNICORN_CONTROL_SOCKET" not in env:
        environment.pop("GUNICORN_CONTROL_SOCKET", None)
    argv = _procfile()["web"]
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the virtualenv's gunicorn
    web = processes.start(name, argv, environment)
    web.port = port
    wait_until(lambda: get(port, "/healthz"), timeout=60, message=f"{name} on {port} ({web.output()[-2000:]})")
    return web


def get(port, path, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def json_lines(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def test_access_lines_are_json_with_the_user_id_and_never_the_name(processes, tmp_path):
    user = make_user(username="carol.candidate")
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    web = start_web(processes, tmp_path, "web")

    assert get(web.port, "/?q=carol", {"Cookie": f"sessionid={session}", "X-Request-ID": "req-access-1"}) == 200
    assert get(web.port, "/login/", {"X-Request-ID": "req-access-2"}) == 200

    def access_lines():
        return [line for line in json_lines(web.output()) if line["logger"] == "gunicorn.access"]

    wait_until(lambda: len(access_lines()) >= 3, timeout=10, message="the access lines")
    signed_in = next(line for line in access_lines() if line["request_id"] == "req-access-1")
    anonymous = next(line for line in access_lines() if line["request_id"] == "req-access-2")
    assert signed_in["user_id"] == str(user.pk)
    assert signed_in["method"] == "GET" and signed_in["path"] == "/" and signed_in["status"] == 200
    assert signed_in["message"] == "GET / 200"
    assert isinstance(signed_in["duration_ms"], float)
    assert anonymous["user_id"] == ""
    for line in json_lines(web.output()):  # gunicorn's own lines as well as Django's
        assert line["service"] == "web", line
        assert {"time", "level", "logger", "message", "request_id", "job_id"} <= set(line), line
    assert "carol" not in web.output()  # neither the user name nor the query string


def test_the_log_fields_are_the_ones_django_logs_with(settings):
    from apps.core.logging import JSON_FIELDS, JSON_RENAMED

    assert settings.LOGGING["formatters"]["json"]["fmt"] == JSON_FIELDS
    assert settings.LOGGING["formatters"]["json"]["rename_fields"] == JSON_RENAMED


def test_two_instances_on_one_host_do_not_share_a_control_socket(processes, tmp_path):
    """gunicorn 27 would put both on ~/.gunicorn/gunicorn.ctl, the second taking it from the first."""
    first = start_web(processes, tmp_path, "web-1")
    own = tmp_path / "run" / "web-2.ctl"
    second = start_web(processes, tmp_path, "web-2", GUNICORN_CONTROL_SOCKET=own)

    assert not (tmp_path / "home" / ".gunicorn" / "gunicorn.ctl").exists()  # off by default
    wait_until(own.exists, timeout=10, message="the second instance's own control socket")
    assert own.is_socket()
    # Both still serve.
    assert get(first.port, "/healthz") == 200 and get(second.port, "/healthz") == 200


def test_a_200_mb_upload_is_refused_before_its_body_is_sent(processes, tmp_path):
    """The probe's request under gunicorn: the headers of an anonymous 200 MB multipart POST to
    /login/ and its first 64 KB. The 413 comes back at once; the rest is never asked for."""
    import socket

    web = start_web(processes, tmp_path, "web")
    length = 200 * 1024 * 1024
    head = (
        "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
        sock.sendall(head + b"--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n")
        sock.sendall(b"x" * 65536)
        answer = sock.recv(4096).decode(errors="replace")  # within the timeout, or the test fails

    assert answer.startswith("HTTP/1.1 413"), answer[:200]
