"""Browser tests: headless Chromium, driven by Playwright, against the web service started
the way users start it (the Procfile's web line), with a real worker and a clock on a fast
timetable (``tests.clock_timetables.BROWSER_TESTS``).

One stack (web, worker, clock) and one browser serve the whole package: starting them takes
seconds, a test takes a fraction of that. So Redis is flushed once around the package, not
around each test (the clock's registered entries and the worker's registration live there);
the database is still emptied after each test (``django_db(transaction=True)``: the child
processes see what a test writes only once it is committed).

Chromium is the system's (Debian's ``chromium``, which ``.ci/run`` installs), found through
``CHROMIUM_PATH`` or ``/usr/bin/chromium``; Playwright never downloads a browser. With no
Chromium the tests are skipped, saying so.
"""

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

import dev
from tests.conftest import _test_redis, free_port
from tests.processes import Process, child_env, clock_args, wait_until, worker_args

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
PASSWORD = "e2e-pass-word-123"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Reports every Content-Security-Policy violation as a console error, which the pages'
# console listener collects (Chromium logs most of them itself; this catches the rest).
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
});
"""


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "No Chromium found (CHROMIUM_PATH, /usr/bin/chromium, chromium on PATH): the browser tests need one. "
            "Install Debian's package (`apt-get install chromium`), as .ci/run does where apt-get is usable."
        )
    return path


@pytest.fixture(scope="package")
def browser(chromium_executable):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # assertions wait up to this long (a busy CI machine), as actions do

    # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
    # ORM calls from a thread with a running loop. The tests' ORM calls are plain sync code
    # between browser steps, so they are allowed for the browser's lifetime only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Stack:
    """The three processes, as the Procfile runs them, on a free loopback port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = child_env(
            # Production settings (DEBUG off, the manifest static storage), over plain HTTP on loopback.
            DJANGO_DEBUG="0",
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_SECURE_COOKIES="0",
            DJANGO_SECURE_HSTS_SECONDS="0",
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_STATIC_ROOT=str(log_dir / "static"),
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            GUNICORN_WORKERS="2",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            CLOCK_TIMETABLE="tests.clock_timetables.BROWSER_TESTS",
        )
        web = shlex.split(dev.procfile()["web"])
        web[0] = str(Path(sys.executable).parent / web[0])  # the virtualenv's gunicorn
        self.processes = []
        self.web = self._start("web", web, env, log_dir)
        self.worker = self._start("worker", worker_args(), env, log_dir)
        self.clock = self._start("clock", clock_args(), env, log_dir)

    def _start(self, name, args, env, log_dir) -> Process:
        process = Process(name, args, env, log_dir)
        self.processes.append(process)
        return process

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-tail:]}" for p in self.processes)

    def answers(self) -> bool:
        import urllib.request

        for process in self.processes:
            assert process.popen.poll() is None, f"{process.name} exited:\n{self.logs()}"
        try:
            with urllib.request.urlopen(f"{self.url}/login/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=30)


@pytest.fixture(scope="package")
def stack(chromium_executable, django_db_setup, tmp_path_factory):
    """Web, worker and clock against the test database and the test Redis database (none
    are started when there is no browser to drive)."""
    _test_redis().flushdb()
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    try:
        wait_until(stack.answers, timeout=90, message="the web service to answer")
        yield stack
    finally:
        stack.stop()
        _test_redis().flushdb()


@pytest.fixture(autouse=True)
def redis_db(stack):
    """Replaces the per-test flush: the package's processes keep their state in Redis."""
    yield _test_redis()


@pytest.fixture(scope="session")
def password_hash():
    """PASSWORD hashed for the web process, which checks passwords with the production
    hashers (the tests' own fast MD5 hasher is not among them). Slow on purpose: made once."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


@pytest.fixture
def with_password(password_hash):
    """Give users made by tests.factories the known PASSWORD (one hash for all: it is slow on purpose)."""

    def give(user):
        type(user).objects.filter(pk=user.pk).update(password=password_hash)
        user.password = password_hash
        return user

    return give


class Browsing:
    """Browser contexts for a test: signed in or not, a viewport, CSP enforced unless asked.

    Every page's console errors, uncaught exceptions and CSP violations are collected in
    ``problems``; tests assert it is empty where the pages must work under the policy.
    """

    def __init__(self, browser, stack):
        self.browser = browser
        self.stack = stack
        self.contexts = []
        self.problems = []

    def page(self, *, user=None, viewport=DESKTOP, bypass_csp=False):
        context = self.browser.new_context(base_url=self.stack.url, viewport=viewport, bypass_csp=bypass_csp)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        context.add_init_script(CSP_REPORTER)
        if user is not None:
            from django.conf import settings

            cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_for(user), "url": self.stack.url}
            context.add_cookies([cookie])
        page = context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: uncaught: {error}"))
        return page

    def _console(self, page, message):
        source = message.location.get("url") or ""
        # Chromium asks every site for /favicon.ico by itself; no page links to it.
        if message.type == "error" and not source.endswith("/favicon.ico"):
            self.problems.append(f"{page.url}: console error: {message.text} ({source})")

    def close(self):
        for context in self.contexts:
            context.close()


def session_for(user) -> str:
    """A signed-in session, as the login page would make it (for pages where signing in is not the point)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend="apps.applications.auth.UserWithProviderBackend")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def browsing(browser, stack):
    browsing = Browsing(browser, stack)
    yield browsing
    browsing.close()


def sign_in(page, username: str) -> None:
    """Sign in through the login page (one right password: sign-in throttling is on)."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name: str) -> None:
    """Save the page to docs/screenshots/NAME.png, only when SCREENSHOTS=1 (CI leaves the tree clean)."""
    if os.environ.get("SCREENSHOTS") == "1":
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True)
