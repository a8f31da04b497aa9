"""Demo data for the local run: users for each role, cycles, and applications in every state
and inside every timed rule.

Idempotent for the base data (users, providers, courses, the current and the previous
cycle, and one application per state and rule, created once). Each run also adds:

- applications whose reject-by-default deadline falls in the next two minutes, and
- offers whose decline-by-default deadline falls in the next two minutes

(deadlines moved by ``services.application_deadline_set_for_demo``, and recorded on their
timeline), so a new user sees the clock,
the sweeps and the worker reject and decline them. The base data has applications inside
the provider and candidate chaser windows (chased at :35 and :40, or now with
``manage.py send_chasers``) and an unsubmitted application in last year's cycle, whose
apply deadline has passed (closed at 00:01, or now with ``manage.py close_cycle``).
"""

from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.auth import SUPPORT_GROUP
from apps.applications.calendars import calendar_for_cycle
from apps.applications.models import Application, Course, Provider, RecruitmentCycle
from apps.applications.rules import MAKE_OFFER, SUBMIT, chaser_rule
from apps.applications.timetables import cycle_create, course_start_month_set, non_working_period_add
from apps.applications.working_days import LONDON

PASSWORD = "demo-password"
#: Who made the demo cycles, in their audit trail.
DEMO = Actor(job_name="manage.py load_demo_data")
PROVIDERS = [
    ("RVS", "Riverside Teaching School", [("2X3A", "Primary"), ("3B7C", "Mathematics")]),
    ("NTU", "Northgate University", [("9K1Q", "Physics"), ("4M2P", "English")]),
]
DUE_SOON_SECONDS = (20, 40, 60, 80)
OFFERS_DUE_SOON_SECONDS = (30, 90)

# One application per state the user can reach, as (what to do, days ago it was submitted).
# Decisions are taken now, and no one can decide past a live deadline, so every story was
# submitted fewer than 20 working days (28 calendar days) ago.
PLAN = [
    ("unsubmitted", None),
    ("awaiting", 2),
    ("awaiting", 8),
    ("interviewing", 12),
    ("offer", 4),
    ("accepted", 15),
    ("rejected", 6),
    ("awaiting", 0),
    ("withdrawn", 5),
    ("declined", 9),
    ("offer_withdrawn", 7),
    ("recruited", 20),
    ("conditions_not_met", 25),
]


def _user(username: str, *, is_staff: bool = False):
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.com", "is_staff": is_staff},
    )
    if created:
        user.set_password(PASSWORD)
        user.save()
    return user


def _cycle_year(now: datetime) -> int:
    """The cycle to apply to now: a cycle's apply deadline is 1 September (its successor's
    applications open on 8 October, a date today's rules do not read yet)."""
    return now.year + 1 if now.month >= 9 else now.year


def _london(year: int, month: int, day: int, hour: int = 23, minute: int = 59, second: int = 59) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON).astimezone(UTC)


def _cycle(year: int) -> RecruitmentCycle:
    """The ``year`` cycle, with the real service's timetable shape: open from October, apply by
    September, reject and decline by default after it; winter courses' dates in December."""
    cycle = RecruitmentCycle.objects.filter(year=year).first()
    if cycle is None:
        cycle = cycle_create(
            actor=DEMO,
            year=year,
            applications_open_date=_london(year - 1, 10, 8, 9, 0, 0),
            apply_deadline=datetime(year, 9, 1, 17, 0, tzinfo=UTC),
            reject_by_default_date=datetime(year, 9, 30, 22, 59, 59, tzinfo=UTC),
            decline_by_default_date=_london(year, 10, 6),
            next_cycle_opens_date=_london(year, 10, 8, 9, 0, 0),
            winter_reject_by_default_date=_london(year, 12, 8),
            winter_decline_by_default_date=_london(year, 12, 15),
        )
        non_working_period_add(
            cycle_id=cycle.pk, actor=DEMO, name="Christmas", starts_on=date(year - 1, 12, 21), ends_on=date(year, 1, 1)
        )
    return cycle


def _days_ago_inside_window(now: datetime, cycle: RecruitmentCycle, kind: str) -> int:
    """How many days ago to submit (provider) or offer (candidate) so the deadline is inside the chaser window
    and more than a day away, whatever today's date, bank holidays and the cycle's periods."""
    rule = chaser_rule(kind)
    calendar = calendar_for_cycle(cycle)
    window_end = rule.window_end(calendar=calendar, now=now)
    for days in range(1, 60):
        moment = now - timedelta(days=days)
        deadline = rule.deadline.at(start=moment, calendar=calendar, cap=cycle.reject_by_default_date)
        if deadline <= window_end and deadline > now + timedelta(days=1):
            return days
    raise RuntimeError(f"no submission date puts an application inside the {kind} chaser window")


class Command(BaseCommand):
    help = "Load demo users, providers, courses and applications (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even with DEBUG off (a production-like stack on purpose, e.g. compose's demo profile).",
        )

    def handle(self, *args, **options):
        # The demo users share one published password: never into a production database by accident.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like production, and the demo users' password is public. "
                "Run with DJANGO_DEBUG=1 for a local run, or pass --force to load the demo data anyway."
            )
        now = timezone.now()
        with transaction.atomic():
            created = self._base(now)
            due_soon = self._due_soon(now)
            offers_due_soon = self._offers_due_soon(now)
        self.stdout.write(
            f"Demo: applications {', '.join(str(a.pk) for a in due_soon)} will be rejected by default "
            "within about two minutes."
        )
        self.stdout.write(
            f"Demo: offers {', '.join(str(a.pk) for a in offers_due_soon)} will be declined by default "
            "within about two minutes."
        )
        if created:
            self.stdout.write(
                f"Demo users (password {PASSWORD!r}): support (Support group), provider-rvs, provider-ntu, "
                "candidate1 .. candidate6"
            )
            previous = _cycle_year(now) - 1
            self.stdout.write(
                "Demo: chasers are due for some applications (sent at :35 and :40 past the hour, or now with "
                "'manage.py send_chasers --kind provider' and '--kind candidate'); "
                f"the {previous} cycle has an unsubmitted application ('manage.py close_cycle --year {previous}')."
            )

    def _base(self, now: datetime) -> bool:
        if Provider.objects.exists():
            return False
        # Support: the Support group's role and admin rights, not a superuser; staff, because
        # the admin and django-rq's views require it.
        _user("support", is_staff=True).groups.add(Group.objects.get(name=SUPPORT_GROUP))
        cycle = _cycle(_cycle_year(now))
        courses = []
        for code, name, course_list in PROVIDERS:
            provider = services.provider_create(code=code, name=name, email=f"admissions@{code.lower()}.example.com")
            services.provider_user_add(user_id=_user(f"provider-{code.lower()}").pk, provider_id=provider.pk)
            courses += [services.course_create(provider_id=provider.pk, code=c, name=n) for c, n in course_list]
        # Northgate's English starts in January: a course on the cycle's winter dates.
        course_start_month_set(course_id=courses[-1].pk, start_month=1)
        candidates = [_user(f"candidate{i}") for i in range(1, 7)]
        plan = [
            *PLAN,
            ("awaiting", _days_ago_inside_window(now, cycle, "provider")),  # provider chaser due
            ("offer_chaser", _days_ago_inside_window(now, cycle, "candidate")),  # candidate chaser due
        ]
        for index, (kind, days_ago) in enumerate(plan):
            application = services.application_create(
                candidate_id=candidates[index % len(candidates)].pk,
                course_id=courses[index % len(courses)].pk,
                cycle_id=cycle.pk,
            )
            if kind != "unsubmitted":
                self._play(application, kind, now - timedelta(days=days_ago), now)
        # Last year's cycle, past its apply deadline, with a draft that was never sent.
        services.application_create(
            candidate_id=candidates[0].pk, course_id=courses[0].pk, cycle_id=_cycle(_cycle_year(now) - 1).pk
        )
        return True

    def _play(self, application: Application, kind: str, submitted: datetime, now: datetime) -> None:
        pk = application.pk
        candidate = Actor(user=application.candidate)
        provider = Actor(user=application.course.provider.users.first().user)
        services.application_submit(application_id=pk, actor=candidate, now=submitted)
        history = {SUBMIT.name: submitted}
        if kind == "interviewing":
            services.application_interview(application_id=pk, actor=provider)
        elif kind == "rejected":
            services.application_reject(application_id=pk, actor=provider)
        elif kind == "withdrawn":
            services.application_withdraw(application_id=pk, actor=candidate)
        elif kind in ("offer", "offer_chaser", "accepted", "declined", "offer_withdrawn", "recruited",
                      "conditions_not_met"):
            # Offers still open are made when the story says; answered ones were answered at once.
            offered = submitted if kind in ("offer", "offer_chaser") else now - timedelta(days=1)
            services.application_make_offer(application_id=pk, actor=provider, now=offered)
            history[MAKE_OFFER.name] = offered
            if kind == "declined":
                services.application_decline_offer(application_id=pk, actor=candidate)
            elif kind == "offer_withdrawn":
                services.application_withdraw_offer(application_id=pk, actor=provider)
            elif kind in ("accepted", "recruited", "conditions_not_met"):
                services.application_accept_offer(application_id=pk, actor=candidate)
                if kind == "recruited":
                    services.application_confirm_recruited(application_id=pk, actor=provider)
                elif kind == "conditions_not_met":
                    services.application_conditions_not_met(application_id=pk, actor=provider)
        # Started a little before it was submitted; later steps happened when the story says (now).
        services.application_history_backdate_for_demo(
            application_id=pk, started_at=submitted - timedelta(hours=2), event_times=history
        )

    def _fresh(self, now: datetime, index: int) -> Application:
        courses = list(Course.objects.order_by("pk"))
        candidates = list(get_user_model().objects.filter(username__startswith="candidate").order_by("pk"))
        application = services.application_create(
            candidate_id=candidates[index % len(candidates)].pk,
            course_id=courses[index % len(courses)].pk,
            cycle_id=_cycle(_cycle_year(now)).pk,
        )
        submitted = now - timedelta(days=1)
        services.application_submit(application_id=application.pk, actor=Actor(user=application.candidate), now=submitted)
        services.application_history_backdate_for_demo(
            application_id=application.pk, started_at=submitted - timedelta(hours=2), event_times={SUBMIT.name: submitted}
        )
        return application

    def _due_soon(self, now: datetime) -> list[Application]:
        result = []
        for index, seconds in enumerate(DUE_SOON_SECONDS):
            application = self._fresh(now, index)
            services.application_deadline_set_for_demo(
                application_id=application.pk, deadline=now + timedelta(seconds=seconds)
            )
            result.append(application)
        return result

    def _offers_due_soon(self, now: datetime) -> list[Application]:
        result = []
        for index, seconds in enumerate(OFFERS_DUE_SOON_SECONDS):
            application = self._fresh(now, index + 1)
            provider = Actor(user=application.course.provider.users.first().user)
            services.application_make_offer(application_id=application.pk, actor=provider, now=now)
            application.refresh_from_db()
            services.application_history_backdate_for_demo(
                application_id=application.pk, started_at=application.created_at, event_times={MAKE_OFFER.name: now}
            )
            services.application_deadline_set_for_demo(
                application_id=application.pk, deadline=now + timedelta(seconds=seconds)
            )
            result.append(application)
        return result
