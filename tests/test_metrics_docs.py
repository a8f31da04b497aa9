"""The operations files agree with the code: the alert rules and the dashboard name only
metrics the service exposes; compose runs the queue Redis without eviction, with AOF; the
web container's healthcheck is readiness."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from apps.monitoring.collector import ApplyCollector

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "docs" / "prometheus" / "apply-alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "apply-dashboard.json"


@pytest.fixture
def exposed(db) -> set[str]:
    """Every sample name the collector can produce (families with no samples yet included)."""
    names = set()
    for family in ApplyCollector().collect():
        if isinstance(family, CounterMetricFamily):
            names.add(f"{family.name}_total")
        elif isinstance(family, HistogramMetricFamily):
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    assert "apply_metrics_source_up" in names and "apply_deadlines_overdue" in names  # both sources answered
    return names


def _metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\bapply_[a-z0-9_]+\b", expression))


def test_alert_rules_refer_to_metrics_that_exist(exposed):
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {"ApplyDeadlineLagOverSLO", "ApplyNoLiveClock", "ApplyNoLiveWorker", "ApplyOutboxStuck"} <= names
    for rule in rules:
        used = _metric_names(rule["expr"]) | _metric_names(json.dumps(rule.get("annotations", {})))
        assert used, rule["alert"]
        assert used <= exposed, (rule["alert"], sorted(used - exposed))


def test_the_lag_alert_is_the_slo():
    [lag] = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
             if rule["alert"] == "ApplyDeadlineLagOverSLO"]
    assert lag["expr"].endswith("> 90")


def test_dashboard_queries_refer_to_metrics_that_exist(exposed):
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 10
    used = set().union(*map(_metric_names, expressions))
    assert used <= exposed, sorted(used - exposed)
    # Every counter and histogram family is on the dashboard.
    assert {name for name in exposed if name.endswith(("_total", "_bucket"))} <= used


def test_compose_runs_the_queue_redis_without_eviction_and_with_aof():
    redis = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


@pytest.fixture
def healthcheck():
    spec = importlib.util.spec_from_file_location("docker_healthcheck", ROOT / "docker" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_is_readiness_and_says_what_failed(healthcheck, live_server, settings):
    assert healthcheck.web_ready(f"{live_server.url}/readyz")[0]
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0"}}
    assert healthcheck.web_ready(f"{live_server.url}/readyz") == (False, "not ready: redis")
