"""List and detail pages under load: gunicorn as the Procfile starts it, wrk with 16 connections.

Each page is found the way a user finds it: log in with a real POST to /login/, read the
list page's filter form for its field names, follow its "Next page" link (whatever the
pagination scheme) and its first application link. Per page: p50/p95/p99 and non-2xx
from wrk (``-t2 -c16``), the p50 of one client alone (the page's own time, no queueing),
and the number of SQL queries and their time from an in-process request (Django's test
client under CaptureQueriesContext).
"""

import http.cookiejar
import importlib
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from bench import prerequisites
from bench.processes import ProcessGroup, ScenarioFailed, child_env, free_port, procfile, wait_until, with_venv_python
from bench.seed import LOGIN_PASSWORD, LOGIN_USERS

LUA = Path(__file__).resolve().parent / "wrk_report.lua"
DEEP_PAGES = 20
CONNECTIONS = 16
THREADS = 2


class _Page(HTMLParser):
    """What the benchmark needs from a list page: filter field names, the next-page link, detail links."""

    def __init__(self):
        super().__init__()
        self.selects, self.text_inputs, self.detail_links = {}, [], []
        self.next_href = None
        self._select = None
        self._anchor = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "select":
            self._select = attrs.get("name")
            self.selects[self._select] = []
        elif tag == "option" and self._select:
            self.selects[self._select].append(attrs.get("value", ""))
        elif tag == "input" and attrs.get("type", "text") in {"text", "search"} and attrs.get("name"):
            self.text_inputs.append(attrs["name"])
        elif tag == "a":
            href = attrs.get("href") or ""
            self._anchor = href
            if "next" in (attrs.get("rel") or "").split():
                self.next_href = href
            if re.fullmatch(r"/\d+/", href):
                self.detail_links.append(href)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "a":
            self._anchor = None

    def handle_data(self, data):
        if self._anchor is not None and self.next_href is None and data.strip().lower().startswith("next"):
            self.next_href = self._anchor


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


class Browser:
    """A logged-in session over HTTP (urllib with a cookie jar)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(urllib.parse.urljoin(self.base, path), timeout=60) as response:
            return response.read().decode()

    def login(self, username: str) -> None:
        form = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"username": username, "password": LOGIN_PASSWORD,
                                       "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(urllib.parse.urljoin(self.base, "/login/"), data=data,
                                         headers={"Referer": urllib.parse.urljoin(self.base, "/login/")})
        with self.opener.open(request, timeout=60):
            pass
        if "sessionid" not in self.cookies():
            raise ScenarioFailed(f"login as {username} did not give a session cookie")

    def cookies(self) -> dict:
        return {cookie.name: cookie.value for cookie in self.jar}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies().items())


def _with(path: str, **params) -> str:
    parsed = urllib.parse.urlsplit(path)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    query.update(params)
    return urllib.parse.urlunsplit(parsed._replace(query=urllib.parse.urlencode(query)))


def _deep(browser: Browser, page: _Page) -> str:
    """The list page reached by following "Next page" up to ``DEEP_PAGES`` times (keyset cursors)."""
    deep, current = "/", page
    for _ in range(DEEP_PAGES):
        if not current.next_href:
            break
        deep = urllib.parse.urljoin(deep, current.next_href)
        current = _parse(browser.get(deep))
    return urllib.parse.urlsplit(deep)._replace(scheme="", netloc="").geturl()


def _rare_term(role: str, *, size: int) -> str:
    """A search term that matches one candidate (and the few whose number continues it): for a
    provider, its candidate with the longest number (a short one matches too many to list)."""
    if role == "support":
        return f"candidate{size // 8 + 7}"
    from apps.applications.models import Application, ProviderUser

    provider_id = ProviderUser.objects.get(user__username="bench-provider").provider_id
    return (Application.objects.filter(course__provider_id=provider_id).order_by("-candidate_id")
            .values_list("candidate__username", flat=True)[0])


def _pages(browser: Browser, role: str, *, size: int) -> dict[str, str]:
    """The URLs to load for one role, found from the pages themselves: the first page, then
    (support and provider) its state filter, searches and a page reached by cursor, and an
    application of the first page."""
    home = browser.get("/")
    page = _parse(home)
    urls = {f"{role} first page": "/"}
    if role != "candidate":
        state_field = next((name for name, values in page.selects.items() if "awaiting_provider_decision" in values),
                           None)
        search_field = page.text_inputs[0] if page.text_inputs else None
        if not state_field or not search_field:
            raise ScenarioFailed(f"the {role} list page has no state filter or search field (selects {page.selects}, "
                                 f"inputs {page.text_inputs})")
        urls[f"{role} state filter"] = _with("/", **{state_field: "interviewing"})
        urls[f"{role} search (common)"] = _with("/", **{search_field: "Mathematics"})
        urls[f"{role} search (rare)"] = _with("/", **{search_field: _rare_term(role, size=size)})
        urls[f"{role} deep page (next x{DEEP_PAGES})"] = _deep(browser, page)
    if not page.detail_links:
        raise ScenarioFailed(f"the {role} first page links to no application")
    urls[f"{role} detail page"] = page.detail_links[len(page.detail_links) // 2]
    return urls


def _queries(username: str, path: str, *, repeat: int = 7) -> dict:
    """Status, SQL query count, size and time of an in-process request (Django's test client):
    the median of ``repeat`` warm requests, with the time of its SQL; the rest is Python (the
    view, the templates, middleware)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    client.get(path)  # warm: the timed requests below are not the first of this process
    runs = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            request_ms = (time.perf_counter() - started) * 1000
        runs.append((request_ms, response, captured.captured_queries))
    request_ms, response, queries = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    sql_ms = sum(float(q["time"]) for q in queries) * 1000
    return {"status": response.status_code, "queries": len(queries), "bytes": len(response.content),
            "request_ms": request_ms, "sql_ms": sql_ms, "python_ms": request_ms - sql_ms,
            "sql": [{"sql": q["sql"], "ms": float(q["time"]) * 1000} for q in queries]}


def _wrk(url: str, cookie: str, seconds: int, *, connections: int = CONNECTIONS) -> dict:
    threads = min(THREADS, connections)
    argv = [prerequisites.wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(LUA), "-H", f"Cookie: {cookie}", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise ScenarioFailed(f"wrk printed no result for {url}: {done.stdout[-500:]} {done.stderr[-500:]}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = result["duration_us"] / 1e6
    return {
        "p50_ms": result["p50_us"] / 1000, "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000, "requests": result["requests"],
        "rps": result["requests"] / seconds_run if seconds_run else 0.0,
        "non2xx": result["non2xx"], "non2xx_statuses": result["non2xx_statuses"], "errors": result["errors"],
    }


def run(*, size: int, args) -> dict:
    import django.core.management

    port = free_port()
    env = child_env(
        SERVICE_NAME="web", GUNICORN_BIND=f"127.0.0.1:{port}",
        DJANGO_DEBUG="0", DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECURE_COOKIES="0",
    )
    # The production static storage needs a manifest; build it as the image does.
    django.core.management.call_command("collectstatic", "--noinput", verbosity=0)
    base = f"http://127.0.0.1:{port}"
    # gunicorn as configured for production (config/gunicorn.py), unless GUNICORN_* is set.
    gunicorn = importlib.import_module("config.gunicorn")
    figures = {"pages": {}, "gunicorn": {"workers": gunicorn.workers, "threads": gunicorn.threads,
                                         "command": " ".join(procfile()["web"])},
               "wrk": f"-t{THREADS} -c{CONNECTIONS} -d{args.wrk_seconds}s"}
    with ProcessGroup() as group:
        web = group.start("web", with_venv_python(procfile()["web"]), env)

        def answering():
            group.check_alive()
            try:
                with urllib.request.urlopen(f"{base}/login/", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(answering, timeout=60, what=f"gunicorn to answer on {base} (log: {web.log_path})")
        for username, role in LOGIN_USERS.items():
            browser = Browser(base)
            browser.login(username)
            for name, path in _pages(browser, role, size=size).items():
                print(f"  {name}: {path}", flush=True)
                counted = _queries(username, path)
                if counted["status"] != 200:
                    raise ScenarioFailed(f"{name} ({path}) answered {counted['status']} in-process")
                load = _wrk(base + path, browser.cookie_header(), args.wrk_seconds)
                if load["non2xx"]:
                    raise ScenarioFailed(f"{name} ({path}) answered {load['non2xx']} non-2xx under load: "
                                         f"{load['non2xx_statuses']}")
                # One client: the page's own time, without queueing behind 15 others.
                alone = _wrk(base + path, browser.cookie_header(), max(2, args.wrk_seconds // 2), connections=1)
                figures["pages"][name] = {"path": path, **load, "queries": counted["queries"],
                                          "page_bytes": counted["bytes"], "in_process_ms": counted["request_ms"],
                                          "in_process_sql_ms": counted["sql_ms"],
                                          "in_process_python_ms": counted["python_ms"], "sql": counted["sql"],
                                          "one_client": alone}
    rows = [[name, p["p50_ms"], p["p95_ms"], p["p99_ms"], p["rps"], p["non2xx"], p["queries"],
             p["one_client"]["p50_ms"], p["in_process_sql_ms"], p["in_process_python_ms"]]
            for name, p in figures["pages"].items()]
    figures["table"] = {"headers": ["page (16 connections)", "p50 ms", "p95 ms", "p99 ms", "req/s", "non-2xx",
                                    "queries", "1 client p50 ms", "SQL ms", "Python ms"], "rows": rows}
    p95s = [p["p95_ms"] for p in figures["pages"].values()]
    figures["target_every_page_p95_under_100ms"] = bool(p95s) and max(p95s) < 100
    python_ms = [p["in_process_python_ms"] for p in figures["pages"].values()]
    figures["target_python_under_10ms_per_page"] = bool(python_ms) and max(python_ms) < 10
    return figures
