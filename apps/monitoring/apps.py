from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Cross-cutting watch over the service: metrics (/metrics), liveness (/healthz),
    readiness (/readyz), error reporting, the hourly invariant checks and their findings,
    the daily report to support and support's Health page.

    It reads the domain and the outbox through their selectors, RQ's registries through
    ``job_registries`` and the clock's state through its own classes; the domain apps only
    call ``apps.monitoring.counters`` where an event happens (tests/test_layers.py).
    """

    name = "apps.monitoring"
    label = "monitoring"
