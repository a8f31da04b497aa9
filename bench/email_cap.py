"""The judged email scenario: a provider that enforces its cap, a chaser burst beside deadlines, kills.

    python3 dev.py bench --applications 100000 --scenario email-cap        (full size: ~9 minutes)

- **The provider**: ``bench/capped_sink.py``, an SMTP sink that accepts at most
  ``--email-cap`` messages in any sliding minute (default 3,000, GOV.UK Notify's) and answers
  421 above it. The service's cap (``EMAIL_RATE_PER_MINUTE``) is set a little under it
  (``--email-service-percent``, default 98 %), the per-second cap and the daily budget off.
- **The load**: ``--email-burst`` applications (default 20,000) inside the provider chaser's
  window and not chased, chased by the hourly chaser sweep started at once (as the clock
  would at :35); beside it ``--email-deadlines-per-minute`` applications (default 1,000)
  reaching their reject-by-default deadline each minute for ``--email-deadline-minutes``
  (default 3), rejected by the clock's every-minute sweep (run once at the start too), each
  with two time-critical emails (provider and candidate; the candidate's minute of delay is
  set to 0 so the lag below is the service's, not a designed wait).
- **The processes**: ``--email-workers`` workers (default 3) started with the Procfile's worker
  command, one clock (``python clock.py``), and ``--email-kills`` SIGKILLs (default 10) spread
  over the expected run, each of a worker running a delivery job when one is, each replaced.

Prints: the most the sink accepted, and was offered, in any sliding minute against its cap;
the share of the cap used while work was queued (due and not yet sent: the union of each
email's [due, sent] interval), against the provider's and the service's cap; emails lost;
the time-critical emails' lag from the state change to the provider's acceptance (p50, p99,
max, how many over 60 s); the bulk drain time; duplicates against kills. Fails (exit 1)
when the service offered the provider more than its cap in a minute, an email was lost or
sent more than once per kill, or a deadline was not processed exactly once; never on timing.
"""

import time

from django.db import connection

from apps.core.redis import redis_connection, rq_queue_named
from apps.outbox.models import OutboxEmail
from bench import seed
from bench.capped_sink import CappedSink, SinkServer, busiest_window, count_between
from bench.fleet import Fleet, registered_workers
from bench.processes import ProcessGroup, ScenarioFailed, child_env, free_port, procfile, wait_until, with_venv_python
from bench.seed import T, execute, scalar
from bench.spike import AWAITING, _fetch, _marks, _reset

TABLE = "bench_email_cap"
POLL = 1.0
LAG_GOAL_S = 60


def _pick(*, burst: int, deadlines: int) -> tuple[list[int], list[int]]:
    """Deadline rows first, then burst rows never chased: kept in TABLE to put them back."""
    seed.chase_window()  # everything else in the window counts as chased: only the burst is due
    execute(f"DROP TABLE IF EXISTS {TABLE}")
    execute(
        f"CREATE TABLE {TABLE} AS SELECT a.id, a.state, a.reject_by_default_at, a.decided_at, a.updated_at, "
        f"a.rejected_by_default, a.provider_chaser_sent FROM {T['application']} a WHERE a.state IN {AWAITING} "
        f"AND NOT a.provider_chaser_sent AND NOT EXISTS (SELECT 1 FROM {T['chaser']} c WHERE c.application_id = a.id) "
        "ORDER BY random() LIMIT %s", [burst + deadlines])
    execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")
    ids = [row[0] for row in _fetch(f"SELECT id FROM {TABLE} ORDER BY id")]
    if len(ids) < burst + deadlines:
        raise ScenarioFailed(f"only {len(ids):,} applications awaiting a decision and not chased; need "
                             f"{burst + deadlines:,} (seed more with --applications)")
    return ids[:deadlines], ids[deadlines:]


def _arm(deadline_ids: list[int], burst_ids: list[int], *, per_minute: int, minutes: float) -> None:
    """The burst inside the chaser window (deadline in two days); the deadlines due from now on,
    ``per_minute`` a minute (all now if ``minutes`` is 0), and never chased during the run."""
    execute(f"UPDATE {T['application']} SET reject_by_default_at = now() + interval '2 days' WHERE id = ANY(%s)",
            [burst_ids])
    spacing = 60.0 / per_minute if minutes else 0.0
    execute(
        f"UPDATE {T['application']} a SET provider_chaser_sent = TRUE, reject_by_default_at = now() - interval "
        "'1 second' + (o.n - 1) * %s * interval '1 second' FROM (SELECT id, row_number() OVER (ORDER BY id) AS n "
        "FROM unnest(%s::bigint[]) AS id) o WHERE a.id = o.id", [spacing, deadline_ids])
    execute(f"VACUUM (ANALYZE) {T['application']}")


def _restore(marks: dict) -> None:
    execute(f"UPDATE {T['application']} a SET provider_chaser_sent = s.provider_chaser_sent FROM {TABLE} s "
            "WHERE a.id = s.id")
    _reset(marks, table=TABLE)


def _merged_seconds(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _expected_message_ids(deadline_ids: list[int], burst_ids: list[int]) -> dict[str, str]:
    """Message-ID -> lane, for every email the run must deliver."""
    keys = {f"rbd:{who}:{pk}": "urgent" for pk in deadline_ids for who in ("provider", "candidate")}
    keys.update({f"chaser:provider:{pk}": "bulk" for pk in burst_ids})
    return {OutboxEmail(key=key).message_id: lane for key, lane in keys.items()}


def _figures(sink: CappedSink, fleet: Fleet, marks: dict, ids: tuple[list[int], list[int]], *,
             started_at: float, service_cap: int) -> dict:
    deadline_ids, burst_ids = ids
    expected = _expected_message_ids(deadline_ids, burst_ids)
    first_accepted: dict[str, float] = {}
    copies: dict[str, int] = {}
    for at, message_id in sorted(sink.accepted):
        first_accepted.setdefault(message_id, at)
        copies[message_id] = copies.get(message_id, 0) + 1
    accepted, offered = sink.times(), sink.attempts()
    rows = _fetch(f"SELECT key, extract(epoch FROM greatest(created_at, available_at)), extract(epoch FROM sent_at), "
                  f"status, attempts FROM {T['outbox']} WHERE id > %s", [marks["outbox"]])
    reclaimed = {row[0] for row in rows if row[4] > 1}  # claimed again: in the batch of a killed (or handed-on) job
    queued = _merged_seconds([(float(due), float(sent)) for _, due, sent, *_ in rows if sent is not None])
    queued_s = sum(end - start for start, end in queued)
    in_queued = sum(count_between(accepted, start, end) for start, end in queued)
    decided = dict(_fetch(f"SELECT id, extract(epoch FROM decided_at) FROM {T['application']} WHERE id = ANY(%s)",
                          [deadline_ids]))
    lags, first_claim_lags = [], []
    for pk in deadline_ids:
        for who in ("provider", "candidate"):
            at = first_accepted.get(OutboxEmail(key=f"rbd:{who}:{pk}").message_id)
            if at is not None and decided.get(pk) is not None:
                lags.append(at - float(decided[pk]))
                if f"rbd:{who}:{pk}" not in reclaimed:
                    first_claim_lags.append(lags[-1])
    bulk_times = [first_accepted[m] for m, lane in expected.items() if lane == "bulk" and m in first_accepted]
    states = dict(_fetch(f"SELECT state, count(*) FROM {T['application']} WHERE id = ANY(%s) GROUP BY state",
                         [deadline_ids]))
    events = _fetch(f"SELECT count(*), count(DISTINCT application_id) FROM {T['event']} WHERE id > %s "
                    "AND kind = 'reject_by_default'", [marks["event"]])[0]
    chasers = scalar(f"SELECT count(*) FROM {T['chaser']} WHERE id > %s AND application_id = ANY(%s)",
                     [marks["chaser"], burst_ids])
    duplicates = sum(n - 1 for n in copies.values())
    return {
        "provider_cap_per_minute": sink.cap, "service_cap_per_minute": service_cap,
        "workers": len([p for p in fleet.group.started if p.name.startswith("worker-")]),
        "kills": len(fleet.kills), "kill_log": fleet.kills,
        "emails_expected": len(expected), "urgent_expected": 2 * len(deadline_ids), "bulk_expected": len(burst_ids),
        "accepted": len(accepted), "refused_by_provider": len(sink.refused),
        "max_accepted_any_minute": busiest_window(accepted), "max_offered_any_minute": busiest_window(offered),
        "queued_s": queued_s, "accepted_while_queued": in_queued,
        "cap_used_while_queued_pct": 100 * in_queued / (queued_s * sink.cap / 60) if queued_s else None,
        "service_cap_used_while_queued_pct": 100 * in_queued / (queued_s * service_cap / 60) if queued_s else None,
        "emails_lost": sum(1 for m in expected if m not in first_accepted),
        "outbox_rows_not_sent": sum(1 for row in rows if row[3] != "sent"),
        "duplicates": duplicates,
        "urgent_lag_p50_s": _percentile(lags, 0.5), "urgent_lag_p99_s": _percentile(lags, 0.99),
        "urgent_lag_max_s": max(lags) if lags else None, "urgent_over_60s": sum(1 for lag in lags if lag > LAG_GOAL_S),
        "urgent_reclaimed": len(lags) - len(first_claim_lags),
        "urgent_lag_p99_first_claim_s": _percentile(first_claim_lags, 0.99),
        "bulk_drain_s": max(bulk_times) - started_at if bulk_times else None,
        "run_s": (max(accepted) if accepted else time.time()) - started_at,
        "accepted_per_10s": [count_between(accepted, started_at + t, started_at + t + 10 - 1e-9)
                             for t in range(0, int((max(accepted) if accepted else started_at) - started_at) + 10, 10)],
        "states_after": states, "reject_events": events[0], "reject_events_distinct": events[1],
        "chasers_written": chasers,
    }


def _checks(f: dict, deadlines: int, burst: int) -> list[str]:
    problems = []
    if f["max_offered_any_minute"] > f["provider_cap_per_minute"] or f["refused_by_provider"]:
        problems.append(f"the provider was offered {f['max_offered_any_minute']:,} in a minute (cap "
                        f"{f['provider_cap_per_minute']:,}) and refused {f['refused_by_provider']:,}")
    if f["emails_lost"] or f["outbox_rows_not_sent"]:
        problems.append(f"{f['emails_lost']:,} emails never reached the provider, {f['outbox_rows_not_sent']:,} "
                        "outbox rows not sent")
    if f["duplicates"] > f["kills"]:
        problems.append(f"{f['duplicates']:,} duplicates for {f['kills']} kills")
    if f["states_after"] != {"rejected": deadlines} or (f["reject_events"], f["reject_events_distinct"]) != (
            deadlines, deadlines):
        problems.append(f"deadlines: states {f['states_after']}, {f['reject_events']:,} events for "
                        f"{f['reject_events_distinct']:,} applications; expected {deadlines:,} rejected once")
    if f["chasers_written"] != burst:
        problems.append(f"{f['chasers_written']:,} chasers written for a burst of {burst:,}")
    return problems


def _table(f: dict) -> dict:
    goal = lambda ok: "yes" if ok else "NO"  # noqa: E731
    rows = [
        ["most accepted in any sliding minute", f["max_accepted_any_minute"], f"cap {f['provider_cap_per_minute']:,}",
         goal(f["max_offered_any_minute"] <= f["provider_cap_per_minute"])],
        ["most offered in any sliding minute (refused)", f["max_offered_any_minute"],
         f"{f['refused_by_provider']:,} refused", goal(not f["refused_by_provider"])],
        ["cap used while work was queued, %", f["cap_used_while_queued_pct"], ">= 95 %",
         goal((f["cap_used_while_queued_pct"] or 0) >= 95)],
        ["  of the service's own cap, %", f["service_cap_used_while_queued_pct"], "", ""],
        ["emails lost", f["emails_lost"], "0", goal(not f["emails_lost"])],
        ["time-critical p99, state change to acceptance, s", f["urgent_lag_p99_s"], "<= 60 s",
         goal(f["urgent_lag_p99_s"] is not None and f["urgent_lag_p99_s"] <= LAG_GOAL_S)],
        ["  p50 / max, s", f"{f['urgent_lag_p50_s'] or 0:.1f} / {f['urgent_lag_max_s'] or 0:.1f}",
         f"{f['urgent_over_60s']:,} over 60 s", ""],
        ["  p99 of those sent by the job that first claimed them, s", f["urgent_lag_p99_first_claim_s"],
         f"{f['urgent_reclaimed']:,} claimed again", ""],
        ["bulk drain (burst started to last chaser accepted), s", f["bulk_drain_s"], "", ""],
        ["duplicates vs kills", f["duplicates"], f"{f['kills']} kills", goal(f["duplicates"] <= f["kills"])],
    ]
    return {"headers": ["email cap", "figure", "against", "goal met"], "rows": rows}


def run(*, size: int, args) -> dict:
    burst, per_minute, minutes = args.email_burst, args.email_deadlines_per_minute, args.email_deadline_minutes
    deadlines = max(1, round(per_minute * minutes)) if minutes else per_minute
    service_cap = max(1, args.email_cap * args.email_service_percent // 100)
    redis_connection().flushdb()
    seed.mark_dirty()
    marks = _marks()
    try:
        ids = _pick(burst=burst, deadlines=deadlines)
        sink = CappedSink(cap_per_minute=args.email_cap)
        port = free_port()
        env = child_env(
            SERVICE_NAME="worker", EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port, EMAIL_RATE_PER_MINUTE=service_cap, EMAIL_RATE_PER_SECOND=0, EMAIL_DAILY_BUDGET=0,
            APPLY_CANDIDATE_EMAIL_DELAY_SECONDS=0, EMAIL_BULK_WINDOW_SECONDS=args.email_bulk_window,
            EMAIL_BULK_MAX_PERCENT=args.email_bulk_percent,
            **({"OUTBOX_LEASE_SECONDS": args.email_lease_seconds} if args.email_lease_seconds else {}),
            **({"OUTBOX_REQUEUE_AFTER_SECONDS": args.email_requeue_seconds} if args.email_requeue_seconds else {}))
        expected_s = max(60 * minutes, (burst + 2 * deadlines) * 60 / service_cap)
        with SinkServer(sink, port), ProcessGroup() as group:
            fleet = Fleet(group, env, args.email_workers)
            wait_until(lambda: group.check_alive() or len(registered_workers()) >= args.email_workers, timeout=60,
                       what=f"{args.email_workers} workers to register")
            group.start("clock", with_venv_python(procfile()["clock"]), child_env(SERVICE_NAME="clock", **{
                k: v for k, v in env.items() if k.startswith(("EMAIL_", "APPLY_"))}))
            _arm(*ids, per_minute=per_minute, minutes=minutes)
            started_at = time.time()
            for job in ("jobs.chasers.applications_chase_providers_due", "jobs.applications.applications_reject_due"):
                rq_queue_named("sweeps").enqueue(job)  # as the clock would: the burst now, not at :35
            kill_at = [started_at + expected_s * (n + 1) / (args.email_kills + 1) for n in range(args.email_kills)]

            def done() -> bool:
                group.check_alive()
                while kill_at and time.time() >= kill_at[0]:
                    fleet.kill_one(kill_at.pop(0) - started_at)
                awaiting = scalar(f"SELECT count(*) FROM {T['application']} WHERE id = ANY(%s) AND state IN "
                                  f"{AWAITING}", [ids[0]])
                rows, sent = _fetch(f"SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM {T['outbox']} "
                                    "WHERE id > %s", [marks["outbox"]])[0]
                return not kill_at and not awaiting and rows >= burst + 2 * deadlines and sent == rows

            wait_until(done, timeout=args.email_timeout, interval=POLL,
                       what=f"the {burst:,} chasers and {2 * deadlines:,} deadline emails to be sent")
            figures = _figures(sink, fleet, marks, ids, started_at=started_at, service_cap=service_cap)
        figures["worker_command"] = " ".join(procfile()["worker"])
        figures["table"] = _table(figures)
        problems = _checks(figures, deadlines, burst)
    finally:
        connection.close()  # the polling loop's connection: a fresh one for the restore
        _restore(marks)
        seed.mark_clean()
    if problems:
        from bench.report import print_scenario

        print_scenario("email-cap", figures)
        raise ScenarioFailed("email cap: " + "; ".join(problems))
    return figures
