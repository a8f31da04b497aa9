"""Security headers: Content-Security-Policy, Permissions-Policy, and private no-store caching
of signed-in pages; and every page we serve (ours, the admin, django-rq's dashboard) still
works under the policy: each inline <script> and <style> it contains is allowed."""

import base64
import hashlib
from html.parser import HTMLParser

import django_rq
import pytest
from django.contrib import admin
from django.urls import reverse
from django_rq.settings import get_queues_list
from rq import Worker

from tests.factories import make_application, make_user

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


class _InlineCode(HTMLParser):
    """Inline <script> and <style> bodies (raw, as a browser hashes them), event-handler and style attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.blocks = []  # (tag, attributes, body)
        self.attributes = []  # (tag, attribute name)
        self._open = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [(tag, name) for name in attrs if name.startswith("on") or name == "style"]
        if tag in ("script", "style") and "src" not in attrs:
            self._open = (tag, attrs, [])

    def handle_data(self, data):
        if self._open:
            self._open[2].append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            tag, attrs, body = self._open
            self.blocks.append((tag, attrs, "".join(body)))
            self._open = None


def _sha256(body: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def _inline_code(response) -> tuple[list[str], set[str]]:
    """The inline blocks of an HTML response that its Content-Security-Policy would block,
    and the hashes of those it allows by hash."""
    directives = _directives(response)
    page = _InlineCode()
    page.feed(response.content.decode())
    blocked, hashes = [], set()
    for tag, attrs, body in page.blocks:
        if tag == "script" and attrs.get("type") in ("application/json", "text/template"):
            continue  # data, not run
        allowed = directives.get(f"{tag}-src", directives["default-src"])
        nonce = attrs.get("nonce")
        if nonce and f"'nonce-{nonce}'" in allowed:
            continue
        if _sha256(body) in allowed:
            hashes.add(_sha256(body))
        else:
            blocked.append(f"<{tag}> {body.strip()[:60]!r}")
    return blocked, hashes


def _inline_attributes(response) -> list[tuple[str, str]]:
    page = _InlineCode()
    page.feed(response.content.decode())
    return page.attributes


@pytest.fixture
def superuser(client):
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_the_policy_is_strict(client):
    response = client.get(reverse("login"))
    directives = _directives(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    for tag in ("script", "style"):
        assert "'unsafe-inline'" not in directives[f"{tag}-src"]
        assert "'unsafe-eval'" not in directives[f"{tag}-src"]
        assert all(source == "'self'" or source.startswith("'sha256-") for source in directives[f"{tag}-src"])


def test_permissions_policy_denies_powerful_features(client):
    header = client.get(reverse("login"))["Permissions-Policy"]
    features = dict(part.strip().split("=") for part in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features[feature] == "()", feature


def test_signed_in_pages_are_private_and_not_stored(client, superuser):
    application = make_application()
    for url in ("/", f"/{application.pk}/", "/support/health/", "/admin/", "/nothing-here/"):
        cache_control = {part.strip() for part in client.get(url)["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache_control, url


def _our_pages(application) -> list[str]:
    return [
        "/", f"/{application.pk}/", f"/{application.pk}/withdraw/", f"/{application.pk}/make_offer/",
        f"/{application.pk}/live/", "/schedule/", "/schedule/live/", "/support/health/", "/support/health/live/",
        "/nope/",
    ]


def _admin_pages(objects) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model in admin.site._registry:
        meta = model._meta
        urls += [reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")]
        urls += [reverse(f"admin:{meta.app_label}_{meta.model_name}_add")]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            for view in ("change", "delete", "history"):
                urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[first.pk]))
    urls.append(reverse("admin:auth_user_password_change", args=[objects["user"].pk]))
    return urls


def _dashboard_pages(job, worker) -> list[str]:
    index = [queue["name"] for queue in get_queues_list()].index("default")
    urls = [reverse("django_rq:home"), reverse("django_rq:workers", args=[index])]
    for name in ("jobs", "finished_jobs", "failed_jobs", "scheduled_jobs", "started_jobs", "deferred_jobs",
                 "clear", "requeue_all", "queue_details"):
        urls.append(reverse(f"django_rq:{name}", args=[index]))
    urls += [
        reverse("django_rq:job_detail", args=[index, job.id]),
        reverse("django_rq:delete_job", args=[index, job.id]),
        reverse("django_rq:worker_details", args=[index, worker.key]),
    ]
    return urls


def test_every_page_works_under_the_policy(client, superuser, redis_db, settings):
    application = make_application()
    job = django_rq.get_queue("default").enqueue("os.getcwd")
    worker = Worker(["default"], connection=redis_db)
    worker.register_birth()
    urls = _our_pages(application) + _admin_pages({"user": superuser}) + _dashboard_pages(job, worker)

    seen, used_hashes = {}, set()
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403, 404, 409), (url, response.status_code)
        assert "Content-Security-Policy" in response, url
        blocked, hashes = _inline_code(response)
        assert not blocked, f"{url}: inline code the policy blocks: {blocked}"
        used_hashes |= hashes
        seen[url] = _inline_attributes(response)
    # Every hash allowed is needed by a page (an upgrade that drops a block drops its hash).
    allowed = {*settings.CSP_THIRD_PARTY_SCRIPT_HASHES, *settings.CSP_THIRD_PARTY_STYLE_HASHES}
    assert used_hashes == allowed, allowed - used_hashes
    # Inline attributes are blocked; ours have none. django-rq's job page has two onclick
    # conveniences (a row that opens the result; the row's link does the same): known.
    ours = _our_pages(application)
    assert not any(seen[url] for url in ours), {url: seen[url] for url in ours}
    third_party = {attribute for url, found in seen.items() if url not in ours for attribute in found}
    assert third_party <= {("tr", "onclick"), ("a", "onclick")}, third_party

