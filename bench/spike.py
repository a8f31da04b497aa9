"""The end-of-cycle spike: 10 % of the applications due at one instant, through the real clock,
workers and an SMTP server; then, on the same rows in the same run, two baselines.

1. **ours**: smtp-sink, 2 workers started with the Procfile's worker command, one clock
   (``python clock.py``, the real timetable: the reject sweep ticks each minute). Measured
   from the database only: the wait for the first change, the drain (first change to all
   changed), the emails (all of the spike's outbox rows sent) and deadline to last email.
2. **raw SQL**: batches of 1,000 ids, one statement (one transaction) each: UPDATE ...
   RETURNING, INSERT the events, INSERT two outbox rows per application. The database's
   speed limit for the same work.
3. **raw SMTP**: the same emails, rendered beforehand, sent by one process per worker over one
   SMTP connection each (``bench/raw_smtp.py``, smtplib) to a new smtp-sink: the SMTP path's
   speed limit, for our delivery rate to be read against.
4. **naive**: one RQ job per application run by RQ's default forking worker (2 of them),
   each job calling the service for its one id and sending its emails one SMTP connection
   each; bounded by ``--naive-seconds`` / ``--naive-max``.

Between runs the rows are put back (state, deadline, decision; their events and outbox
rows deleted; the bench Redis database flushed; VACUUM ANALYZE).
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import connection, transaction

from apps.core.redis import redis_connection
from bench import naive, prerequisites, raw_smtp, seed
from bench.processes import ProcessGroup, ScenarioFailed, child_env, free_port, procfile, wait_until, with_venv_python
from bench.seed import T, execute, insert, scalar

AWAITING = "('awaiting_provider_decision', 'interviewing')"
RAW_BATCH = 1000
STATE_POLL = 0.1
EMAIL_POLL = 1.0


def _fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _pick(count: int) -> int:
    """The spike's rows, with what the runs change, kept in bench_spike to put them back."""
    execute("DROP TABLE IF EXISTS bench_spike")
    execute(
        f"CREATE TABLE bench_spike AS SELECT id, state, reject_by_default_at, decided_at, updated_at, "
        f"rejected_by_default FROM {T['application']} WHERE state IN {AWAITING} ORDER BY random() LIMIT %s", [count])
    execute("ALTER TABLE bench_spike ADD PRIMARY KEY (id)")
    execute("ANALYZE bench_spike")
    return scalar("SELECT count(*) FROM bench_spike")


def _mark_due():
    """Every spike row's deadline one second ago, one instant for all; returns it (database clock)."""
    deadline = scalar("SELECT now() - interval '1 second'")
    execute(f"UPDATE {T['application']} a SET reject_by_default_at = %s FROM bench_spike s WHERE a.id = s.id",
            [deadline])
    return deadline


def _marks() -> dict:
    """The newest ids before a run: rows above them are the run's own."""
    return {"event": scalar(f"SELECT coalesce(max(id), 0) FROM {T['event']}"),
            "outbox": scalar(f"SELECT coalesce(max(id), 0) FROM {T['outbox']}"),
            "chaser": scalar(f"SELECT coalesce(max(id), 0) FROM {T['chaser']}")}


def _reset(marks: dict, *, table: str = "bench_spike") -> None:
    """Put the scenario's rows (kept in ``table``) back as seeded and remove what the run wrote."""
    execute(
        f"UPDATE {T['application']} a SET state = s.state, reject_by_default_at = s.reject_by_default_at, "
        "decided_at = s.decided_at, updated_at = s.updated_at, rejected_by_default = s.rejected_by_default "
        f"FROM {table} s WHERE a.id = s.id")
    execute(f"DELETE FROM {T['event']} WHERE id > %s", [marks["event"]])
    execute(f"DELETE FROM {T['outbox']} WHERE id > %s", [marks["outbox"]])
    execute(f"DELETE FROM {T['chaser']} WHERE id > %s", [marks["chaser"]])
    redis_connection().flushdb()
    for table in (T["application"], T["event"], T["outbox"]):
        execute(f"VACUUM (ANALYZE) {table}")


def _due_left(deadline) -> int:
    return scalar(f"SELECT count(*) FROM {T['application']} WHERE state IN {AWAITING} "
                  "AND reject_by_default_at <= %s", [deadline])


def _emails(after_id: int) -> tuple[int, int, int]:
    """(rows, sent, failed) of the outbox rows written since the run began."""
    return _fetch(f"SELECT count(*), count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = "
                  f"'failed') FROM {T['outbox']} WHERE id > %s", [after_id])[0]


def _sink(group: ProcessGroup, name: str) -> tuple[object, int]:
    port = free_port()
    argv = [prerequisites.smtp_sink_path(), "-c", "-u", "nobody", f"127.0.0.1:{port}", "1024"]
    sink = group.start(name, argv, child_env())
    wait_until(lambda: _port_open(port), timeout=10, what=f"smtp-sink on port {port}")
    return sink, port


def _port_open(port: int) -> bool:
    from bench.processes import port_open

    return port_open(port)


def _sink_counts(sink) -> dict:
    """smtp-sink -c's last counters: sessions (SMTP connections) and messages received."""
    sink.log.flush()
    text = sink.log_path.read_text(errors="replace")
    found = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", text)
    if not found:
        return {"sessions": 0, "messages": 0}
    sess, _, mesg = found[-1]
    return {"sessions": int(sess), "messages": int(mesg)}


def _ours(count: int, args) -> dict:
    marks = _marks()
    figures = {"applications_due": count}
    with ProcessGroup() as group:
        sink, port = _sink(group, "smtp-sink")
        env = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": port, "EMAIL_BACKEND":
               "django.core.mail.backends.smtp.EmailBackend"}
        deadline = _mark_due()
        started = time.monotonic()
        worker = with_venv_python(procfile()["worker"])
        for n in (1, 2):
            group.start(f"worker-{n}", worker, child_env(SERVICE_NAME="worker", **env))
        group.start("clock", with_venv_python(procfile()["clock"]), child_env(SERVICE_NAME="clock", **env))
        figures["worker_command"] = " ".join(procfile()["worker"])
        samples = []

        def sample():
            group.check_alive()
            polled = time.monotonic()
            left = _due_left(deadline)
            samples.append((round(polled - started, 2), count - left))
            # Keep the poll's own load under a tenth of a CPU (it counts up to 100,000 rows at 1M).
            time.sleep(9 * (time.monotonic() - polled))
            return left

        wait_until(lambda: sample() < count, timeout=args.spike_timeout, interval=STATE_POLL,
                   what="the first application to be rejected (the reject sweep ticks each minute)")
        wait_until(lambda: sample() == 0, timeout=args.spike_timeout, interval=STATE_POLL,
                   what=f"all {count:,} applications to be rejected")
        all_changed_at = scalar("SELECT clock_timestamp()")
        email_samples = []

        def emails_done():
            group.check_alive()
            rows, sent, failed = _emails(marks["outbox"])
            email_samples.append((round(time.monotonic() - started, 1), sent))
            return rows >= 2 * count and sent + failed == rows

        wait_until(emails_done, timeout=args.spike_timeout, interval=EMAIL_POLL,
                   what=f"the {2 * count:,} emails of the spike to be sent")
        for process in group.started:
            if process.name != "smtp-sink":
                process.stop()
        figures["smtp_sink"] = _sink_counts(sink)
    states = dict(_fetch(f"SELECT a.state, count(*) FROM {T['application']} a JOIN bench_spike s USING (id) "
                         "GROUP BY a.state"))
    first, last = _fetch(f"SELECT min(a.decided_at), max(a.decided_at) FROM {T['application']} a "
                         "JOIN bench_spike s USING (id) WHERE a.state = 'rejected'")[0]
    events = _fetch(f"SELECT count(*), count(DISTINCT application_id) FROM {T['event']} WHERE id > %s "
                    "AND kind = 'reject_by_default'", [marks["event"]])[0]
    rows, sent, failed = _emails(marks["outbox"])
    first_sent, last_sent = _fetch(f"SELECT min(sent_at), max(sent_at) FROM {T['outbox']} WHERE id > %s",
                                   [marks["outbox"]])[0]
    drain_s = (all_changed_at - first).total_seconds()
    email_s = (last_sent - first_sent).total_seconds() if first_sent else 0.0
    delivery = _delivery(marks["outbox"])
    figures.update({
        "states_after": states,
        "events": events[0], "events_distinct_applications": events[1],
        "outbox_rows": rows, "emails_sent": sent, "emails_failed": failed,
        "first_tick_wait_s": (first - deadline).total_seconds(),
        # The sweep ticks on the minute: how long after that tick the first batch began.
        "first_change_after_tick_s": (first - first.replace(second=0, microsecond=0)).total_seconds(),
        "drain_s": drain_s,
        "drain_per_s": count / drain_s if drain_s else None,
        "last_decided_after_first_s": (last - first).total_seconds(),
        "emails_s": email_s,
        "emails_per_s_first_to_last": sent / email_s if email_s else None,
        # Sending time only: the candidate's email is held back a minute by design (see _delivery).
        "emails_busy_s": delivery["busy_s"],
        "emails_per_s": sent / delivery["busy_s"] if delivery["busy_s"] else None,
        "email_waves": delivery["waves"],
        "deadline_to_all_rejected_s": (all_changed_at - deadline).total_seconds(),
        "deadline_to_last_email_s": (last_sent - deadline).total_seconds() if last_sent else None,
        "samples_changed": samples[:: max(1, len(samples) // 200)],
        "samples_emails_sent": email_samples,
    })
    _exactly_once(figures, count)
    figures["raw_smtp"] = _raw_smtp(marks["outbox"], senders=2)
    _reset(marks)
    return figures


def _exactly_once(figures: dict, count: int) -> None:
    """Every due application rejected once, with one event and its two emails, each sent once."""
    problems = []
    if figures["states_after"] != {"rejected": count}:
        problems.append(f"states after the spike {figures['states_after']}, expected {count:,} rejected")
    if (figures["events"], figures["events_distinct_applications"]) != (count, count):
        problems.append(f"{figures['events']:,} reject_by_default events for "
                        f"{figures['events_distinct_applications']:,} applications, expected {count:,} for {count:,}")
    if figures["outbox_rows"] != 2 * count or figures["emails_sent"] != 2 * count or figures["emails_failed"]:
        problems.append(f"{figures['outbox_rows']:,} outbox rows, {figures['emails_sent']:,} sent, "
                        f"{figures['emails_failed']:,} failed; expected {2 * count:,} sent")
    if figures["smtp_sink"]["messages"] != figures["emails_sent"]:
        problems.append(f"smtp-sink received {figures['smtp_sink']['messages']:,} messages for "
                        f"{figures['emails_sent']:,} emails marked sent")
    if problems:
        raise ScenarioFailed("exactly once failed: " + "; ".join(problems))


def _raw_smtp(after_id: int, *, senders: int) -> dict:
    """The spike's emails, rendered now (untimed) as delivery renders them, then sent by
    ``senders`` processes over one SMTP connection each to a new smtp-sink, all at once."""
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives

    from apps.outbox.models import OutboxEmail
    from apps.outbox.services import outbox_email_render

    with tempfile.TemporaryDirectory() as work:
        files = [Path(work) / f"messages-{n}" for n in range(senders)]

        def rendered(part: int):
            rows = OutboxEmail.objects.filter(id__gt=after_id).order_by("id")
            for email in rows.iterator(chunk_size=2000):
                if email.id % senders != part:
                    continue
                subject, body_text, body_html = outbox_email_render(email)
                message = EmailMultiAlternatives(subject=subject, body=body_text, from_email=settings.DEFAULT_FROM_EMAIL,
                                                 to=email.to, headers={"Message-ID": email.message_id})
                if body_html:
                    message.attach_alternative(body_html, "text/html")
                yield message.from_email, message.recipients(), message.message().as_bytes(linesep="\r\n")

        written = sum(raw_smtp.write_messages(path, rendered(n)) for n, path in enumerate(files))
        with ProcessGroup() as group:
            sink, port = _sink(group, "smtp-sink-raw")
            started = time.monotonic()
            done = [subprocess.Popen([sys.executable, "-m", "bench.raw_smtp", str(path), "127.0.0.1", str(port)],
                                     stdout=subprocess.PIPE, text=True) for path in files]
            outputs = [process.communicate(timeout=1200)[0] for process in done]
            seconds = time.monotonic() - started
            if any(process.returncode for process in done):
                raise ScenarioFailed(f"the raw SMTP senders failed: {outputs}")
            wait_until(lambda: _sink_counts(sink)["messages"] >= written, timeout=30,
                       what="smtp-sink to count the raw sender's messages")
            received = _sink_counts(sink)["messages"]
    if received != written:
        raise ScenarioFailed(f"smtp-sink received {received:,} of the raw sender's {written:,} messages")
    return {"emails": written, "senders": senders, "seconds": seconds, "per_s": written / seconds}


def _delivery(after_id: int) -> dict:
    """Delivery of the run's emails in waves: sent at once, or held back (available_at later than written).

    The rate that matters is emails over the time spent sending: the union of each wave's
    [first available, last sent] interval, so the minute the candidate's email waits by
    design is not counted as slowness. Also each wave's lag (sent minus available) p50/p99.
    """
    rows = _fetch(
        f"SELECT available_at > created_at + interval '1 second' AS held, count(*), min(available_at), max(sent_at), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - available_at)), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - available_at)) "
        f"FROM {T['outbox']} WHERE id > %s AND status = 'sent' GROUP BY 1 ORDER BY 3", [after_id])
    waves, spans = [], []
    for held, count, start, end, p50, p99 in rows:
        span = max((end - start).total_seconds(), 1e-3)
        waves.append({"held_back": held, "emails": count, "seconds": span, "per_s": count / span,
                      "lag_p50_s": p50, "lag_p99_s": p99})
        spans.append((start, end))
    busy, cursor_end = 0.0, None
    for start, end in sorted(spans):
        if cursor_end is not None and start < cursor_end:
            start = cursor_end
        if end > start:
            busy += (end - start).total_seconds()
            cursor_end = end
    return {"waves": waves, "busy_s": busy}


def _raw_sql(count: int) -> dict:
    """What the database alone needs: one set-based statement (one transaction) per 1,000 ids."""
    marks = _marks()
    _mark_due()
    ids = [row[0] for row in _fetch("SELECT id FROM bench_spike ORDER BY id")]
    prefix = f"""
        WITH due AS (
            SELECT id, state FROM {T['application']}
            WHERE id = ANY(%(ids)s) AND state IN {AWAITING} AND reject_by_default_at <= now() FOR UPDATE
        ), changed AS (
            UPDATE {T['application']} a SET state = 'rejected', decided_at = now(), updated_at = now(),
                rejected_by_default = true
            FROM due WHERE a.id = due.id RETURNING a.id, due.state AS from_state, a.course_id, a.candidate_id
        ), events AS (
            INSERT INTO {T['event']} (application_id, created_at, kind, from_state, to_state, actor_job_name,
                actor_job_id, detail)
            SELECT id, now(), 'reject_by_default', from_state, 'rejected', 'bench.raw_sql', '', '{{}}'::jsonb
            FROM changed RETURNING 1
        )"""
    body = ("'Dear ' || CASE r.who WHEN 'provider' THEN p.name ELSE u.first_name || ' ' || u.last_name END || "
            "E',\\n\\nApplication ' || c.id || ' to ' || co.name || ' (' || co.code || ') at ' || p.name || "
            "E' was not decided in time and has been rejected by default.\\n\\n' || "
            "repeat('This message explains what happens next and where to find help. ', 4) || E'\\n\\nApply\\n'")
    columns = {
        "key": "'rbd:' || r.who || ':' || c.id",
        "to": "jsonb_build_array(CASE r.who WHEN 'provider' THEN p.email ELSE u.email END)",
        "subject": "'Application ' || c.id || ' rejected by default'",
        "body_text": body,
        "body_html": "'<p>' || replace(" + body + ", E'\\n', '<br>') || '</p>'",
        "status": "'pending'", "attempts": "0", "lease_token": "''", "last_error": "''",
        "created_at": "now()",
        "available_at": "now() + CASE r.who WHEN 'candidate' THEN interval '60 seconds' ELSE interval '0' END",
    }
    tail = (f"FROM changed c JOIN {T['course']} co ON co.id = c.course_id JOIN {T['provider']} p "
            f"ON p.id = co.provider_id JOIN {T['user']} u ON u.id = c.candidate_id "
            "CROSS JOIN (VALUES ('provider'), ('candidate')) AS r(who)")
    started = time.perf_counter()
    outbox_rows = 0
    for i in range(0, len(ids), RAW_BATCH):
        with transaction.atomic():
            outbox_rows += insert(T["outbox"], columns, tail, {"ids": ids[i: i + RAW_BATCH]}, prefix=prefix)
    elapsed = time.perf_counter() - started
    changed = scalar(f"SELECT count(*) FROM {T['application']} a JOIN bench_spike s USING (id) "
                     "WHERE a.state = 'rejected'")
    events = scalar(f"SELECT count(*) FROM {T['event']} WHERE id > %s", [marks["event"]])
    _reset(marks)
    if changed != count:
        raise ScenarioFailed(f"raw SQL baseline changed {changed} of {count}")
    return {"applications": changed, "events": events, "outbox_rows": outbox_rows, "batch": RAW_BATCH,
            "seconds": elapsed, "per_s": changed / elapsed}


def _naive(count: int, args) -> dict:
    from redis import Redis
    from rq import Queue

    marks = _marks()
    limit = min(count, args.naive_max)
    ids = [row[0] for row in _fetch("SELECT id FROM bench_spike ORDER BY id LIMIT %s", [limit])]
    deadline = _mark_due()
    queue = Queue(naive.QUEUE, connection=Redis.from_url(naive.REDIS_URL))
    for i in range(0, len(ids), 1000):
        queue.enqueue_many([Queue.prepare_data(naive.JOB, args=(pk,), timeout=60) for pk in ids[i: i + 1000]])
    rq = with_venv_python(["rq"])[0]
    with ProcessGroup() as group:
        sink, port = _sink(group, "smtp-sink-naive")
        env = child_env(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, SERVICE_NAME="worker",
                        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
        started = time.monotonic()
        for n in (1, 2):
            group.start(f"naive-worker-{n}", [rq, "worker", "-c", "bench.naive", "--url", naive.REDIS_URL,
                                              naive.QUEUE], env)
        budget_end = started + args.naive_seconds

        def done_or_budget():
            group.check_alive()
            left = scalar(f"SELECT count(*) FROM {T['application']} WHERE id = ANY(%s) AND state IN {AWAITING}",
                          [ids])
            return left == 0 or time.monotonic() >= budget_end

        wait_until(done_or_budget, timeout=args.naive_seconds + 120, interval=STATE_POLL,
                   what="the naive baseline's budget")
        stopped_at = scalar("SELECT clock_timestamp()")
        for process in group.started:
            if process.name != "smtp-sink-naive":
                process.stop()
        sink_counts = _sink_counts(sink)
    first, last, changed = _fetch(
        f"SELECT min(decided_at), max(decided_at), count(*) FROM {T['application']} WHERE id = ANY(%s) "
        "AND state = 'rejected'", [ids])[0]
    sent = scalar(f"SELECT count(*) FROM {T['outbox']} WHERE id > %s AND status = 'sent'", [marks["outbox"]])
    _reset(marks)
    if not changed:
        raise ScenarioFailed("the naive baseline rejected nothing (see the naive-worker logs)")
    window = (stopped_at - first).total_seconds()
    return {"applications_queued": len(ids), "applications": changed, "emails_sent": sent,
            "smtp_sink": sink_counts, "seconds": window, "per_s": changed / window,
            "first_change_after_deadline_s": (first - deadline).total_seconds()}


def run(*, size: int, args) -> dict:
    count = max(1, size // 10)
    redis_connection().flushdb()
    seed.mark_dirty()
    picked = _pick(count)
    figures, before = {}, _marks()
    try:
        figures["ours"] = _ours(picked, args)
        figures["raw_sql"] = _raw_sql(picked)
        figures["naive"] = _naive(picked, args)
    except BaseException:
        _reset(before)  # each run puts the rows back itself when it finishes
        raise
    finally:
        seed.mark_clean()
    figures["raw_smtp"] = figures["ours"].pop("raw_smtp")
    ours, raw, slow, smtp = figures["ours"], figures["raw_sql"], figures["naive"], figures["raw_smtp"]
    figures["ours_drain_vs_raw_sql"] = ours["drain_s"] / raw["seconds"]
    # Our time spent sending the spike's emails against the raw sender's for the same messages.
    figures["ours_emails_vs_raw_smtp"] = ours["emails_busy_s"] / smtp["seconds"] if smtp["seconds"] else None
    figures["ours_vs_naive"] = ours["drain_per_s"] / slow["per_s"]
    figures["target_within_2x_raw_sql"] = figures["ours_drain_vs_raw_sql"] <= 2
    figures["target_100x_naive"] = figures["ours_vs_naive"] >= 100
    figures["target_emails_within_2x_raw_smtp"] = (figures["ours_emails_vs_raw_smtp"] or 99) <= 2
    figures["table"] = {
        "headers": ["spike run", "applications", "seconds", "per second", "emails/s"],
        "rows": [
            ["ours: first tick wait", picked, ours["first_tick_wait_s"], "", ""],
            ["ours: drain (first to all rejected)", picked, ours["drain_s"], ours["drain_per_s"], ""],
            ["ours: emails (time spent sending)", ours["emails_sent"], ours["emails_busy_s"], "", ours["emails_per_s"]],
            ["ours: deadline to last email", picked, ours["deadline_to_last_email_s"], "", ""],
            ["raw set-based SQL", raw["applications"], raw["seconds"], raw["per_s"], ""],
            [f"raw SMTP ({smtp['senders']} senders, 1 connection each)", "", smtp["seconds"], "", smtp["per_s"]],
            ["naive (1 job/app, fork, 1 SMTP conn/email)", slow["applications"], slow["seconds"], slow["per_s"],
             slow["emails_sent"] / slow["seconds"]],
        ],
    }
    return figures
