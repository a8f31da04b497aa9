"""Demo data for the local run: users for each role, a cycle, and applications in many states.

Idempotent for the base data. Each run also adds a few applications whose
reject-by-default deadline falls in the next two minutes (set directly, and recorded on
their timeline), so a new user sees the clock, the sweep and the worker reject them.
"""

from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    Course,
    NonWorkingPeriod,
    Provider,
    ProviderUser,
    RecruitmentCycle,
)

PASSWORD = "demo-password"
PROVIDERS = [
    ("RVS", "Riverside Teaching School", [("2X3A", "Primary"), ("3B7C", "Mathematics")]),
    ("NTU", "Northgate University", [("9K1Q", "Physics"), ("4M2P", "English")]),
]
DUE_SOON_SECONDS = (40, 70, 100, 130)


def _user(username: str, *, is_staff: bool = False, is_superuser: bool = False):
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.com", "is_staff": is_staff, "is_superuser": is_superuser},
    )
    if created:
        user.set_password(PASSWORD)
        user.save()
    return user


def _cycle(now: datetime) -> RecruitmentCycle:
    year = now.year if now.month >= 10 else now.year - 1
    cycle, _ = RecruitmentCycle.objects.get_or_create(
        year=year + 1,
        defaults={
            "apply_deadline": datetime(year + 1, 9, 1, 17, 0, tzinfo=UTC),
            "reject_by_default_date": datetime(year + 1, 9, 30, 22, 59, 59, tzinfo=UTC),
        },
    )
    NonWorkingPeriod.objects.get_or_create(
        cycle=cycle, name="Christmas", defaults={"starts_on": date(year, 12, 21), "ends_on": date(year + 1, 1, 1)}
    )
    return cycle


class Command(BaseCommand):
    help = "Load demo users, providers, courses and applications (safe to run again)."

    def handle(self, *args, **options):
        now = timezone.now()
        with transaction.atomic():
            created = self._base(now)
            due_soon = self._due_soon(now)
        if created:
            self.stdout.write(
                f"Demo users (password {PASSWORD!r}): support (staff), provider-rvs, provider-ntu, "
                "candidate1 .. candidate6"
            )
        self.stdout.write(
            f"Demo: applications {', '.join(str(a.pk) for a in due_soon)} will be rejected by default "
            "within about two minutes."
        )

    def _base(self, now: datetime) -> bool:
        if Provider.objects.exists():
            return False
        _user("support", is_staff=True, is_superuser=True)
        cycle = _cycle(now)
        courses = []
        for code, name, course_list in PROVIDERS:
            provider = Provider.objects.create(code=code, name=name, email=f"admissions@{code.lower()}.example.com")
            ProviderUser.objects.create(user=_user(f"provider-{code.lower()}"), provider=provider)
            courses += [Course.objects.create(provider=provider, code=c, name=n) for c, n in course_list]
        candidates = [_user(f"candidate{i}") for i in range(1, 7)]
        plan = [
            ("unsubmitted", None),
            ("awaiting", 2),
            ("awaiting", 8),
            ("interviewing", 12),
            ("offer", 4),
            ("accepted", 15),
            ("rejected", 6),
            ("awaiting", 0),
        ]
        for index, (kind, days_ago) in enumerate(plan):
            application = Application.objects.create(
                candidate=candidates[index % len(candidates)], course=courses[index % len(courses)], cycle=cycle
            )
            if kind == "unsubmitted":
                continue
            submitted = now - timedelta(days=days_ago)
            candidate = Actor(user=application.candidate)
            services.application_submit(application_id=application.pk, actor=candidate, now=submitted)
            provider = Actor(user=application.course.provider.users.first().user)
            if kind == "interviewing":
                services.application_interview(application_id=application.pk, actor=provider)
            elif kind in ("offer", "accepted"):
                services.application_make_offer(application_id=application.pk, actor=provider, now=submitted)
                if kind == "accepted":
                    services.application_accept_offer(application_id=application.pk, actor=candidate)
            elif kind == "rejected":
                services.application_reject(application_id=application.pk, actor=provider)
        return True

    def _due_soon(self, now: datetime) -> list[Application]:
        cycle = _cycle(now)
        courses = list(Course.objects.order_by("pk"))
        candidates = list(get_user_model().objects.filter(username__startswith="candidate").order_by("pk"))
        result = []
        for index, seconds in enumerate(DUE_SOON_SECONDS):
            application = Application.objects.create(
                candidate=candidates[index % len(candidates)], course=courses[index % len(courses)], cycle=cycle
            )
            submitted = now - timedelta(days=30)
            services.application_submit(
                application_id=application.pk, actor=Actor(user=application.candidate), now=submitted
            )
            deadline = now + timedelta(seconds=seconds)
            Application.objects.filter(pk=application.pk).update(reject_by_default_at=deadline)
            ApplicationEvent.objects.create(
                application=application,
                kind="demo_deadline_moved",
                from_state=ApplicationState.AWAITING_PROVIDER_DECISION,
                to_state=ApplicationState.AWAITING_PROVIDER_DECISION,
                detail={"reject_by_default_at": deadline.isoformat(), "why": "demo data: due in the next minutes"},
            )
            result.append(application)
        return result
