"""Seed a PostgreSQL database with N applications in set-based SQL (INSERT ... SELECT generate_series).

    seed(applications=1_000_000)        migrate, truncate, seed, ANALYZE (minutes at 1M)
    ensure_seeded(applications=N)       reuse the database when it holds this size, else seed

What it writes: ~100 providers, ~1,000 courses (10 per provider), N/4 candidate users
(one precomputed password hash for all), N applications of one open cycle with a
realistic state mix, one timeline event per transition an application went through, one
sent outbox row per submitted application, and the users to log in as (``LOGIN_USERS``).

Live deadlines are the end of a London day, spread over the next ~60 days (reject by
default) and ~14 days (decline by default), never earlier than tomorrow, so nothing is
due after seeding. ``deadline_at`` is a generated column: the database fills it.

A table ``bench_seed`` records the size and seed version; ``ensure_seeded`` reseeds only
when they differ or a scenario left the data dirty (``mark_dirty``/``mark_clean``), and
moves forward the few deadlines that have become due since the seed (a seed reused days
later would otherwise start with due rows).
"""

import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection

from apps.applications.models import (
    Application,
    ApplicationEvent,
    ChaserSent,
    Course,
    NonWorkingPeriod,
    Provider,
    ProviderUser,
    RecruitmentCycle,
)
from apps.monitoring.models import InvariantFinding
from apps.outbox.models import OutboxEmail

SEED_VERSION = 3  # 2: applications carry their chaser-sent flags; 3: users given their roles by the service
PROVIDERS = 100
COURSES_PER_PROVIDER = 10
CHUNK = 50_000
LOGIN_PASSWORD = "bench-password"
#: username -> role. Support is the Support group's (as ``load_demo_data`` gives it), the provider
#: user a membership of the first provider made by ``provider_user_add`` (about 1 % of the
#: applications), the candidate one of the seeded candidates: so a change to how the service gives
#: roles breaks the seed (CI runs every scenario at a small size), not a run at a million.
LOGIN_USERS = {"bench-support": "support", "bench-provider": "provider", "candidate7": "candidate"}
SUBJECTS = [
    "Primary", "Mathematics", "English", "Physics", "Chemistry", "Biology", "History", "Geography",
    "Computing", "Modern Languages", "Music", "Art and Design", "Physical Education", "Religious Education",
    "Design and Technology", "Drama", "Business Studies", "Economics", "Psychology", "Classics",
]
#: (state, share of applications): cumulative thresholds are built from this.
STATE_MIX = [
    ("unsubmitted", 0.10),
    ("awaiting_provider_decision", 0.33),
    ("interviewing", 0.12),
    ("offer", 0.08),
    ("rejected", 0.14),
    ("withdrawn", 0.05),
    ("accepted", 0.07),
    ("declined", 0.04),
    ("offer_withdrawn", 0.01),
    ("recruited", 0.03),
    ("conditions_not_met", 0.01),
    ("application_not_sent", 0.02),
]
#: The event that led into each state from the one before it (the submit event comes first).
TRANSITION_EVENTS = {
    "interviewing": ("interview", "awaiting_provider_decision"),
    "offer": ("make_offer", "awaiting_provider_decision"),
    "rejected": ("reject", "awaiting_provider_decision"),
    "withdrawn": ("withdraw", "awaiting_provider_decision"),
    "accepted": ("accept_offer", "offer"),
    "declined": ("decline_offer", "offer"),
    "offer_withdrawn": ("withdraw_offer", "offer"),
    "recruited": ("confirm_recruited", "accepted"),
    "conditions_not_met": ("conditions_not_met", "accepted"),
}

T = {
    "provider": Provider._meta.db_table,
    "course": Course._meta.db_table,
    "cycle": RecruitmentCycle._meta.db_table,
    "period": NonWorkingPeriod._meta.db_table,
    "application": Application._meta.db_table,
    "event": ApplicationEvent._meta.db_table,
    "chaser": ChaserSent._meta.db_table,
    "finding": InvariantFinding._meta.db_table,
    "provider_user": ProviderUser._meta.db_table,
    "outbox": OutboxEmail._meta.db_table,
    "user": get_user_model()._meta.db_table,
}


def _end_of_london_day(expr: str) -> str:
    """SQL: 23:59:59.999999 London time on the London date of ``expr`` (a timestamptz)."""
    return (
        f"((date_trunc('day', ({expr}) AT TIME ZONE 'Europe/London') + interval '1 day' - interval '1 microsecond')"
        " AT TIME ZONE 'Europe/London')"
    )


def _state_case() -> str:
    parts, total = [], 0.0
    for state, share in STATE_MIX:
        total += share
        parts.append(f"WHEN r < {total:.4f} THEN '{state}'")
    return "CASE " + " ".join(parts[:-1]) + f" ELSE '{STATE_MIX[-1][0]}' END"


class Progress:
    """A tqdm bar per phase when tqdm is installed, else one plain line per chunk."""

    def __init__(self, phase: str, total: int):
        self.phase, self.total, self.done = phase, total, 0
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"seed {phase:12}", unit=" rows", unit_scale=True, leave=True)
        except ImportError:
            self.bar = None

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        else:
            print(f"seed {self.phase}: {self.done:,}/{self.total:,}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _chunks(first: int, last: int):
    for lo in range(first, last + 1, CHUNK):
        yield lo, min(last, lo + CHUNK - 1)


def execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_FILLERS = {
    "character varying": "''", "text": "''", "jsonb": "'{}'::jsonb", "json": "'{}'::json",
    "boolean": "false", "integer": "0", "bigint": "0", "smallint": "0",
    "timestamp with time zone": "now()", "date": "current_date", "uuid": "gen_random_uuid()",
}


def insert(table: str, columns: dict[str, str], tail: str, params=None, *, prefix: str = "") -> int:
    """``<prefix> INSERT INTO table (cols) SELECT exprs <tail>`` for the columns the table has.

    Other developers change the schema while the benchmarks are written: a column given
    here that the table no longer has is left out, and a NOT NULL column without a default
    that is not given (a field added since) gets an empty value of its type.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable, column_default, is_identity, is_generated "
            "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        existing = cursor.fetchall()
    values = {name: expr for name, expr in columns.items() if any(row[0] == name for row in existing)}
    for name, data_type, nullable, default, identity, generated in existing:
        if name in values or nullable == "YES" or default is not None or identity == "YES" or generated != "NEVER":
            continue
        if data_type not in _FILLERS:
            raise RuntimeError(f"bench seed: {table}.{name} ({data_type}) is required and has no filler")
        values[name] = _FILLERS[data_type]
    names = ", ".join(f'"{name}"' for name in values)
    return execute(f"{prefix} INSERT INTO {table} ({names}) SELECT {', '.join(values.values())} {tail}", params)


def scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def _reset_schema() -> None:
    """An empty schema, migrated by the code as it is now (others change migrations meanwhile)."""
    execute("DROP SCHEMA public CASCADE")
    execute("CREATE SCHEMA public")
    call_command("migrate", "--noinput", verbosity=0)


def _user_columns(password: str) -> dict[str, str]:
    return {
        "password": password, "is_superuser": "false", "first_name": "''", "last_name": "''",
        "is_staff": "false", "is_active": "true", "date_joined": "now()",
    }


def _seed_reference() -> dict:
    """Providers, courses, the open cycle, the users to log in as. Returns ids the bulk phases need."""
    insert(T["provider"], {
        "code": "'P' || lpad(g::text, 4, '0')",
        "name": "'Provider ' || g || ' Teaching School'",
        "email": "'provider' || g || '@example.test'",
    }, "FROM generate_series(1, %s) g", [PROVIDERS])
    subjects = "ARRAY[" + ", ".join(f"'{s}'" for s in SUBJECTS) + "]"
    insert(T["course"], {
        "provider_id": "p.id",
        "code": "'C' || lpad(k::text, 3, '0') || p.id",
        "name": f"({subjects})[1 + ((p.id * 7 + k) %% {len(SUBJECTS)})] || ' with QTS'",
        "start_month": "CASE WHEN k %% 5 = 0 THEN 1 ELSE 9 END",  # one course in five starts in January
    }, f"FROM {T['provider']} p CROSS JOIN generate_series(1, %s) k ORDER BY p.id, k", [COURSES_PER_PROVIDER])
    # One open cycle: apply deadline and cap well after every seeded deadline.
    insert(T["cycle"], {
        "year": "extract(year FROM now() + interval '200 days')::int",
        "applications_open_date": "now() - interval '100 days'",
        "apply_deadline": "now() + interval '200 days'",
        "reject_by_default_date": "now() + interval '230 days'",
        "decline_by_default_date": "now() + interval '236 days'",
        "next_cycle_opens_date": "now() + interval '243 days'",
        "winter_reject_by_default_date": "now() + interval '321 days'",
        "winter_decline_by_default_date": "now() + interval '327 days'",
    }, "")
    cycle_id = scalar(f"SELECT max(id) FROM {T['cycle']}")
    insert(T["period"], {
        "cycle_id": "%s", "name": "'Christmas'",
        "starts_on": "make_date(extract(year FROM now())::int, 12, 21)",
        "ends_on": "make_date(extract(year FROM now())::int + 1, 1, 1)",
    }, "", [cycle_id])
    return {
        "cycle_id": cycle_id,
        "first_course": scalar(f"SELECT min(id) FROM {T['course']}"),
        "courses": scalar(f"SELECT count(*) FROM {T['course']}"),
    }


def _seed_login_users() -> None:
    """The users the lists scenario signs in as, given their roles the way the service gives them."""
    from django.contrib.auth.models import Group

    from apps.applications.auth import SUPPORT_GROUP, is_support
    from apps.applications.services import provider_user_add

    users = get_user_model().objects
    for username, role in LOGIN_USERS.items():
        if role == "candidate":
            continue  # a seeded candidate (``_seed_candidates``), with the login password
        user = users.create_user(username=username, email=f"{username}@example.test", password=LOGIN_PASSWORD)
        if role == "support":
            user.is_staff = True  # the admin, as the demo's support user
            user.save(update_fields=["is_staff"])
            user.groups.add(Group.objects.get(name=SUPPORT_GROUP))
            if not is_support(users.get(pk=user.pk)):
                raise RuntimeError(f"{username} is in the {SUPPORT_GROUP} group but is not support")
        elif role == "provider":
            provider_user_add(user_id=user.pk, provider_id=Provider.objects.order_by("pk").values_list("pk", flat=True)[0])


def _seed_candidates(count: int) -> int:
    """Candidate users ``candidate<n>``; one hash for all (hashing a million passwords would take
    hours): the login password, so the lists scenario can sign in as one of them."""
    password = make_password(LOGIN_PASSWORD)
    progress = Progress("candidates", count)
    for lo, hi in _chunks(1, count):
        insert(T["user"], {
            **_user_columns("%(password)s"),
            "username": "'candidate' || g", "first_name": "'Candidate'", "last_name": "'Number ' || g",
            "email": "'candidate' || g || '@example.test'", "date_joined": "now() - interval '90 days'",
        }, "FROM generate_series(%(lo)s, %(hi)s) g", {"password": password, "lo": lo, "hi": hi})
        progress.update(hi - lo + 1)
    progress.close()
    return scalar(f"SELECT min(id) FROM {T['user']} WHERE username LIKE 'candidate%%'")


def _application_columns() -> tuple[dict[str, str], str]:
    """Column expressions and FROM clause of one chunk of applications (``x.g`` is the row number)."""
    rbd_live = _end_of_london_day("now() + interval '1 day' + x.r2 * interval '59 days'")
    dbd_live = _end_of_london_day("now() + interval '1 day' + x.r2 * interval '13 days'")
    past_submit = "now() - interval '10 days' - x.r2 * interval '70 days'"
    past_offer = "now() - interval '5 days' - x.r2 * interval '60 days'"
    offered_states = "('accepted', 'declined', 'offer_withdrawn', 'recruited', 'conditions_not_met')"
    submitted = f"""CASE
        WHEN st.state IN ('unsubmitted', 'application_not_sent') THEN NULL
        WHEN st.state IN ('awaiting_provider_decision', 'interviewing') THEN {rbd_live} - interval '28 days'
        WHEN st.state = 'offer' THEN {dbd_live} - interval '20 days'
        ELSE {past_submit} END"""
    rbd = f"""CASE
        WHEN st.state IN ('unsubmitted', 'application_not_sent') THEN NULL
        WHEN st.state IN ('awaiting_provider_decision', 'interviewing') THEN {rbd_live}
        WHEN st.state = 'offer' THEN {dbd_live} - interval '6 days'
        ELSE {_end_of_london_day(past_submit + " + interval '28 days'")} END"""
    offered = f"""CASE
        WHEN st.state = 'offer' THEN {dbd_live} - interval '14 days'
        WHEN st.state IN {offered_states} THEN {past_offer} END"""
    dbd = f"""CASE
        WHEN st.state = 'offer' THEN {dbd_live}
        WHEN st.state IN {offered_states} THEN {_end_of_london_day(past_offer + " + interval '14 days'")} END"""
    decided = f"""CASE
        WHEN st.state IN ('unsubmitted', 'awaiting_provider_decision', 'interviewing', 'application_not_sent')
        THEN NULL
        WHEN st.state = 'offer' THEN {dbd_live} - interval '14 days'
        ELSE now() - interval '4 days' - x.r2 * interval '5 days' END"""
    created = "now() - interval '90 days' + x.r3 * interval '10 days'"
    columns = {
        "candidate_id": "%(first_candidate)s + (x.g %% %(candidates)s)",
        "course_id": "c.id",
        "provider_id": "c.provider_id",
        "cycle_id": "%(cycle_id)s",
        "state": "st.state",
        "created_at": created,
        "updated_at": f"coalesce(({decided}), ({submitted}), {created})",
        "submitted_at": submitted,
        "reject_by_default_at": rbd,
        "offered_at": offered,
        "decline_by_default_at": dbd,
        "decided_at": decided,
        "rejected_by_default": "st.state = 'rejected' AND x.r3 < 0.5",
        "declined_by_default": "st.state = 'declined' AND x.r3 < 0.3",
    }
    tail = f"""
        FROM (
            SELECT g, random() AS r, random() AS r2, random() AS r3,
                   ((g::bigint * 2654435761) %% %(courses)s) AS course_ix
            FROM generate_series(%(lo)s, %(hi)s) g
        ) x
        JOIN {T['course']} c ON c.id = %(first_course)s + x.course_ix
        CROSS JOIN LATERAL (SELECT {_state_case()} AS state) st"""
    return columns, tail


def _seed_applications(count: int, *, candidates: int, first_candidate: int, ref: dict) -> None:
    """N applications in chunks; timestamps follow each state's history, live deadlines lie ahead."""
    columns, tail = _application_columns()
    progress = Progress("applications", count)
    for lo, hi in _chunks(1, count):
        insert(T["application"], columns, tail,
                {**ref, "lo": lo, "hi": hi, "candidates": candidates, "first_candidate": first_candidate})
        progress.update(hi - lo + 1)
    progress.close()


def _seed_history(count: int) -> None:
    """The timeline (submit, then the transition into the current state) and the sent 'submitted' emails."""
    first, last = scalar(f"SELECT min(id) FROM {T['application']}"), scalar(f"SELECT max(id) FROM {T['application']}")
    kinds = " ".join(f"WHEN '{state}' THEN '{kind}'" for state, (kind, _) in TRANSITION_EVENTS.items())
    previous = " ".join(f"WHEN '{state}' THEN '{prev}'" for state, (_, prev) in TRANSITION_EVENTS.items())
    window = "FROM {app} a WHERE a.id BETWEEN %(lo)s AND %(hi)s".format(app=T["application"])
    submit_events = ({
        "application_id": "a.id", "created_at": "a.submitted_at", "kind": "'submit'",
        "from_state": "'unsubmitted'", "to_state": "'awaiting_provider_decision'",
        "actor_job_name": "''", "actor_job_id": "''",
        "detail": "jsonb_build_object('reject_by_default_at', a.reject_by_default_at)",
    }, f"{window} AND a.submitted_at IS NOT NULL")
    by_default = "a.rejected_by_default OR a.declined_by_default"
    transition_events = ({
        "application_id": "a.id", "created_at": "coalesce(a.decided_at, a.updated_at)",
        "kind": "CASE WHEN a.rejected_by_default THEN 'reject_by_default' WHEN a.declined_by_default "
                f"THEN 'decline_by_default' ELSE CASE a.state {kinds} END END",
        "from_state": f"CASE a.state {previous} END", "to_state": "a.state",
        "actor_job_name": f"CASE WHEN {by_default} THEN 'jobs.applications.seeded' ELSE '' END",
        "actor_job_id": "''", "detail": "'{}'::jsonb",
    }, f"{window} AND a.state = ANY(%(states)s)")
    sent_emails = ({
        "key": "'submitted:provider:' || a.id", "to": "jsonb_build_array(p.email)",
        "subject": "'New application ' || a.id",
        "body_text": "'Dear ' || p.name || E',\\n\\nA candidate has applied to ' || c.name || E'.\\n\\nApply\\n'",
        "body_html": "''", "template": "'application_submitted'", "status": "'sent'", "attempts": "1",
        "lease_token": "''", "created_at": "a.submitted_at", "available_at": "a.submitted_at",
        "sweep_after": "NULL", "sent_at": "a.submitted_at + interval '2 seconds'", "last_error": "''",
    }, f"{window.replace('a WHERE', 'a JOIN ' + T['course'] + ' c ON c.id = a.course_id JOIN ' + T['provider'] + ' p ON p.id = c.provider_id WHERE')} AND a.submitted_at IS NOT NULL")
    for phase, table, parts in (("events", T["event"], [submit_events, transition_events]),
                                ("outbox", T["outbox"], [sent_emails])):
        progress = Progress(phase, count)
        for lo, hi in _chunks(first, last):
            for columns, tail in parts:
                insert(table, columns, tail, {"lo": lo, "hi": hi, "states": list(TRANSITION_EVENTS)})
            progress.update(hi - lo + 1)
        progress.close()


def chase_window() -> int:
    """Mark every application inside a chaser window as chased (production's steady state: the
    hourly sweeps have chased them), so a clock tick at :35 or :40 during a scenario sends nothing."""
    from django.utils import timezone

    from apps.applications.models import ChaserKind
    from apps.applications.selectors import application_ids_due_for_chaser

    added = 0
    for kind in ChaserKind.values:
        ids = application_ids_due_for_chaser(kind=kind, now=timezone.now(), limit=10**9)
        if ids:
            added += insert(T["chaser"], {"application_id": "unnest(%(ids)s::bigint[])", "kind": "%(kind)s",
                                           "sent_at": "now()"}, "", {"ids": ids, "kind": kind})
            # The application's flag goes with its ChaserSent row, as the chaser service writes them.
            execute(f"UPDATE {T['application']} SET {kind}_chaser_sent = TRUE WHERE id = ANY(%s)", [ids])
    return added


def _ensure_marker_table() -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS bench_seed (id int PRIMARY KEY DEFAULT 1, applications int NOT NULL, "
        "seed_version int NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now(), dirty boolean NOT NULL DEFAULT false)"
    )


def seed(*, applications: int, verbose: bool = True) -> dict:
    """Migrate, empty the tables, seed ``applications`` rows and the rest, ANALYZE. Returns timings."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the bench seeder needs PostgreSQL (DATABASE_URL=postgres://...)")
    timings = {}
    started = time.monotonic()
    _reset_schema()
    _ensure_marker_table()
    timings["migrate_s"] = time.monotonic() - started
    phase = time.monotonic()
    ref = _seed_reference()
    _seed_login_users()
    candidates = max(1, applications // 4)
    first_candidate = _seed_candidates(candidates)
    timings["reference_and_users_s"] = time.monotonic() - phase
    phase = time.monotonic()
    _seed_applications(applications, candidates=candidates, first_candidate=first_candidate, ref=ref)
    timings["applications_s"] = time.monotonic() - phase
    phase = time.monotonic()
    _seed_history(applications)
    timings["history_s"] = time.monotonic() - phase
    phase = time.monotonic()
    timings["chasers_marked"] = chase_window()
    timings["chasers_s"] = time.monotonic() - phase
    phase = time.monotonic()
    # VACUUM as autovacuum would by the time production has such tables: marking the chased
    # applications left dead row versions behind in the chaser sweeps' partial indexes, and
    # the users' trigram indexes hold their rows in GIN's pending list until a vacuum merges
    # it (a rare-term candidate search took 17 ms before, 9 ms after, at 250,000 users).
    execute("VACUUM ANALYZE")
    timings["analyze_s"] = time.monotonic() - phase
    execute("INSERT INTO bench_seed (applications, seed_version) VALUES (%s, %s)", [applications, SEED_VERSION])
    timings["total_s"] = time.monotonic() - started
    if verbose:
        print(f"seeded {applications:,} applications in {timings['total_s']:.1f} s", flush=True)
    return timings


def seeded_size() -> int | None:
    """The size the database holds, or None when it must be (re)seeded."""
    if scalar("SELECT to_regclass('bench_seed')") is None:
        return None
    row = None
    with connection.cursor() as cursor:
        cursor.execute("SELECT applications, seed_version, dirty FROM bench_seed")
        row = cursor.fetchone()
    if row is None or row[1] != SEED_VERSION or row[2]:
        return None
    return row[0]


def refresh_deadlines() -> int:
    """Move the live deadlines that fell due since the seed 60 days forward; return how many moved."""
    moved = execute(
        f"UPDATE {T['application']} SET reject_by_default_at = reject_by_default_at + interval '60 days' "
        "WHERE state IN ('awaiting_provider_decision', 'interviewing') AND reject_by_default_at <= now() + interval '1 hour'"
    )
    moved += execute(
        f"UPDATE {T['application']} SET decline_by_default_at = decline_by_default_at + interval '14 days' "
        "WHERE state = 'offer' AND decline_by_default_at <= now() + interval '1 hour'"
    )
    return moved


def ensure_seeded(*, applications: int) -> dict:
    """Seed unless the database already holds this size, clean; returns what was done and its timings."""
    call_command("migrate", "--noinput", verbosity=0)
    if seeded_size() == applications:
        moved = refresh_deadlines()
        chased = chase_window()
        if moved or chased:
            execute(f"VACUUM ANALYZE {T['application']}")
            execute(f"ANALYZE {T['chaser']}")
        return {"reused": True, "deadlines_moved": moved, "chasers_marked": chased}
    return {"reused": False, **seed(applications=applications)}


def mark_dirty() -> None:
    """A scenario is changing the seeded rows: reseed next time unless ``mark_clean`` follows."""
    execute("UPDATE bench_seed SET dirty = true")


def mark_clean() -> None:
    execute("UPDATE bench_seed SET dirty = false")
