"""/healthz, /readyz and /metrics (config/urls.py), and support's Health page (apps.monitoring.urls)."""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from apps.applications.auth import support_required
from apps.core.sign_in_throttling import client_ip
from apps.monitoring.collector import ApplyCollector
from apps.monitoring.health import health_context
from apps.monitoring.liveness import clock_status, liveness_checks
from apps.monitoring.readiness import readiness

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """Liveness: 200 when the database and Redis answer, 503 otherwise; the clock reported beside."""
    checks = liveness_checks()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    # Reported, not failed on: a missing clock must not get the web containers restarted.
    body["clock"] = clock_status(now=timezone.now()) if checks["redis"] == "ok" else "unknown"
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def readyz(request):
    """200 when this process can serve (database with all migrations, Redis); 503 naming what failed."""
    checks = readiness()
    failed = [name for name, result in checks.items() if result != "ok"]
    body = {"status": "unavailable" if failed else "ready", "checks": checks, "failed": failed}
    return JsonResponse(body, status=503 if failed else 200)


def _token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time: the comparison does not tell a guesser how many characters were right.
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode())


def _network_allowed(request) -> bool:
    address = client_ip(request)  # the peer, or the proxies' client with TRUSTED_PROXY_COUNT
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request):
    """Prometheus metrics, for a configured token or network only; off (404) when neither is set.

    A registry per scrape holding only our collector: every value is read from the
    database and Redis now (apps.monitoring.collector), none is kept in this process, so
    gunicorn's workers and every web host answer alike.
    """
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
        raise Http404("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS")
    if not (_token_matches(request) or _network_allowed(request)):
        logger.warning("metrics refused to %s", client_ip(request))
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ApplyCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


# Support only (apps.applications.auth): anonymous users are sent to sign in, everyone else gets 403.
@support_required
@require_safe
def support_health(request):
    """The Health page: an overall verdict first, then the figures; it refreshes itself."""
    return render(request, "monitoring/support_health.html", health_context(now=timezone.now()))


@support_required
@require_safe
def support_health_live(request):
    """The Health page's figures alone, for the page to refresh itself."""
    return render(request, "monitoring/support_health_live.html", health_context(now=timezone.now()))
