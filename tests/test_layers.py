"""The apps' layers: each app imports only from the apps below it.

    core  ←  outbox  ←  applications  ←  scheduling  ←  monitoring

- ``apps.core``: plumbing with no domain (logging, Redis, leases, enqueue on commit); it
  imports no other app, so anything may use it.
- ``apps.outbox``: email delivery; it knows nothing of applications.
- ``apps.applications``: the domain (models, services, selectors, its pages).
- ``apps.scheduling``: the clock's timetable and state; it runs jobs over the domain and
  gates its pages with the domain's support role.
- ``apps.monitoring``: reads everything (through selectors, RQ's registries through
  ``apps.monitoring.job_registries``), and nothing below reads it, with one exception:
  ``apps.monitoring.counters`` is where events are counted as they happen, in whatever
  layer they happen (a sweep, a delivery, a tick); it imports nothing but core, so it is
  a leaf any layer may call. What the pages below show of monitoring (support's
  attention panel, the paused-rule banner) monitoring adds itself, with a context
  processor and a template tag library.

``jobs/`` and ``clock.py`` sit above every app (``clock.py`` → ``jobs/`` → ``apps/``) and
are not walked here. Lazy imports inside functions count like top-level ones.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "outbox", "applications", "scheduling", "monitoring"]
ANY_LAYER = {"apps.monitoring.counters"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "apps":  # from apps import outbox
            names.update(f"apps.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("apps.")}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _upward_imports(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / "apps" / app).rglob("*.py")):
        module = _module(path)
        for name in _imports(path):
            other = name.split(".")[1]
            if other not in LAYERS or LAYERS.index(other) <= LAYERS.index(app):
                continue
            if any(name == allowed or name.startswith(allowed + ".") for allowed in ANY_LAYER):
                continue
            found.append(f"{module} imports {name}")
    return sorted(set(found))


def test_core_imports_no_other_app():
    assert _upward_imports("core") == []


def test_each_app_imports_only_the_apps_below_it():
    assert {app: _upward_imports(app) for app in LAYERS} == {app: [] for app in LAYERS}


def test_the_counters_any_layer_may_call_import_only_core():
    for name in ANY_LAYER:
        path = ROOT / Path(*name.split(".")).with_suffix(".py")
        assert {n.split(".")[1] for n in _imports(path)} <= {"core", "monitoring"}, name
        assert {n for n in _imports(path) if n.startswith("apps.monitoring")} <= {name}, name
