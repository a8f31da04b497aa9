"""Sweep cost: the sweeps' selectors with 1,000 due among N and with nothing due.

For each selector: the median (and min, max) of several timed calls, the SQL it ran and
the plan of its main query (EXPLAIN (ANALYZE, BUFFERS)). Also the reject sweep job itself
(select, claim in Redis, enqueue batches), with the bench Redis database flushed between
calls so each one claims afresh. The seeded rows are put back afterwards.

"Due" is made the way time makes it: 1,000 live deadlines moved to a minute ago (reject
and decline), and 1,000 chaser rows removed from applications inside a chaser window.
"""

import statistics
import time

from django.db import connection
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.applications.models import Application, ChaserKind, ChaserSent
from apps.core.redis import redis_connection
from bench import seed

RUNS = 7
DUE = 1000


def _selector(*names: str):
    """The sweep's selector under its current name (the older name second: the spike path is being reworked)."""
    from apps.applications import selectors

    for name in names:
        if hasattr(selectors, name):
            return getattr(selectors, name)
    raise AttributeError(f"apps.applications.selectors has none of {names}")


def _selectors() -> dict:
    from django.conf import settings

    from apps.applications import selectors

    limit = settings.APPLY_SWEEP_LIMIT
    reject = _selector("applications_due_for_rejection", "application_ids_due_for_rejection")
    decline = _selector("applications_due_for_decline", "application_ids_due_for_decline")
    return {
        "reject_due": lambda: reject(limit=limit),
        "decline_due": lambda: decline(limit=limit),
        "chase_providers_due": lambda: selectors.application_ids_due_for_chaser(
            kind=ChaserKind.PROVIDER, now=timezone.now(), limit=limit),
        "chase_candidates_due": lambda: selectors.application_ids_due_for_chaser(
            kind=ChaserKind.CANDIDATE, now=timezone.now(), limit=limit),
    }


def _reject_sweep_job():
    from jobs.applications import applications_reject_due

    return applications_reject_due()


def _timed(call, *, before=None) -> dict:
    timings, result = [], None
    for _ in range(RUNS):
        if before:
            before()
        started = time.perf_counter()
        result = call()
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
        "returned": len(result) if isinstance(result, list) else (result.get("due", result) if isinstance(result, dict) else result),
    }


def _explain(call) -> list[dict]:
    """Run ``call`` once capturing its SQL, then EXPLAIN (ANALYZE, BUFFERS) each query on applications."""
    with CaptureQueriesContext(connection) as captured:
        call()
    plans = []
    table = Application._meta.db_table
    for query in captured.captured_queries:
        sql = query["sql"]
        if f'FROM "{table}"' not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        plans.append({"sql": sql, "plan": plan, "summary": summarize(plan)})
    return plans


def summarize(plan: str) -> str:
    """The plan's nodes in one line: 'Limit > Index Scan using application_rbd_due; 1.2 ms, 12 buffers'."""
    nodes, buffers, total = [], 0, ""
    for line in plan.splitlines():
        text = line.strip().removeprefix("->").strip()
        if "(cost=" in text:
            nodes.append(text.split("  (cost=")[0])
        if text.startswith("Buffers:") and not buffers:
            for part in text.replace("Buffers:", "").replace(",", " ").split():
                if "=" in part:
                    buffers += int(part.split("=")[1])
        if text.startswith("Execution Time:"):
            total = text.removeprefix("Execution Time:").strip()
    return f"{' > '.join(nodes)}; {total}, {buffers} buffers"


def _make_due() -> dict:
    """1,000 awaiting applications and 1,000 offers past their deadline, 1,000 chasers due of each kind."""
    app = Application._meta.db_table
    saved = {}
    with connection.cursor() as cursor:
        for name, states, field in (("reject", "('awaiting_provider_decision', 'interviewing')", "reject_by_default_at"),
                                    ("decline", "('offer')", "decline_by_default_at")):
            cursor.execute(
                f"WITH picked AS (SELECT id, {field} AS old FROM {app} WHERE state IN {states} "
                f"ORDER BY id LIMIT %s) UPDATE {app} a SET {field} = now() - interval '1 minute' FROM picked "
                f"WHERE a.id = picked.id RETURNING a.id, picked.old", [DUE])
            saved[name] = (field, cursor.fetchall())
    chasers = ChaserSent._meta.db_table
    saved["chasers"] = []
    with connection.cursor() as cursor:
        for kind in ChaserKind.values:
            cursor.execute(
                f"DELETE FROM {chasers} WHERE id IN (SELECT id FROM {chasers} WHERE kind = %s ORDER BY id LIMIT %s) "
                "RETURNING application_id, kind, sent_at", [kind, DUE])
            rows = cursor.fetchall()
            saved["chasers"] += rows
            # Not chased any more: the application's flag goes with the ChaserSent row.
            cursor.execute(f"UPDATE {app} SET {kind}_chaser_sent = FALSE WHERE id = ANY(%s)", [[r[0] for r in rows]])
    return saved


def _restore(saved: dict) -> None:
    app = Application._meta.db_table
    with connection.cursor() as cursor:
        for name in ("reject", "decline"):
            field, rows = saved[name]
            if rows:
                cursor.execute(
                    f"UPDATE {app} a SET {field} = v.old FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, old) "
                    "WHERE a.id = v.id", [[r[0] for r in rows], [r[1] for r in rows]])
        rows = saved["chasers"]
        if rows:
            cursor.execute(
                f"INSERT INTO {ChaserSent._meta.db_table} (application_id, kind, sent_at) "
                "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) ON CONFLICT DO NOTHING",
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]])
            for kind in {r[1] for r in rows}:
                cursor.execute(f"UPDATE {app} SET {kind}_chaser_sent = TRUE WHERE id = ANY(%s)",
                               [[r[0] for r in rows if r[1] == kind]])


def _case(name: str) -> dict:
    selectors = _selectors()
    figures = {}
    for key, call in selectors.items():
        figures[key] = {**_timed(call), "plans": _explain(call)}
    flush = redis_connection().flushdb
    figures["reject_sweep_job"] = _timed(_reject_sweep_job, before=flush)
    flush()
    return figures


def run(*, size: int, args) -> dict:
    flush = redis_connection().flushdb
    flush()
    figures = {"nothing_due": _case("nothing due")}
    due_now = Application.objects.filter(state__in=["awaiting_provider_decision", "interviewing"],
                                         reject_by_default_at__lte=Now()).count()
    if due_now:
        figures["warning"] = f"{due_now} applications were already due before the 1,000 were made due"
    seed.mark_dirty()
    saved = _make_due()
    try:
        figures["due_1000"] = _case("1,000 due")
    finally:
        _restore(saved)
        seed.mark_clean()
        flush()
    rows = []
    for key in list(_selectors()) + ["reject_sweep_job"]:
        none, due = figures["nothing_due"][key], figures["due_1000"][key]
        rows.append([key, none["returned"], none["median_ms"], due["returned"], due["median_ms"]])
    figures["table"] = {
        "headers": ["sweep (median of 7)", "nothing due: found", "ms", "1,000 due: found", "ms"],
        "rows": rows,
    }
    for key in _selectors():
        for case in ("nothing_due", "due_1000"):
            for plan in figures[case][key]["plans"]:
                print(f"  {key} ({case.replace('_', ' ')}): {plan['summary']}")
    return figures
