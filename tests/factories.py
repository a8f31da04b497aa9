"""Test data builders. Keyword arguments override the defaults."""

import importlib
import itertools
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from apps.applications.auth import SUPPORT_GROUP, SUPPORT_PERMISSION
from apps.applications.models import (
    Application,
    ApplicationState,
    Course,
    Provider,
    ProviderUser,
    RecruitmentCycle,
    RuleSet,
)

_seq = itertools.count(1)


def make_user(*, username=None, is_staff=False, password="pass-word-123", **fields):
    n = next(_seq)
    username = username or f"user{n}"
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=password, is_staff=is_staff, **fields
    )
    return user


def make_support_user(**fields):
    """Staff in the Support group. Migration 0010 creates the group with its admin rights; a
    transactional test's flush empties the table, so it is made again here, with the role."""
    user = make_user(is_staff=True, **fields)
    group, created = Group.objects.get_or_create(name=SUPPORT_GROUP)
    if created:
        app_label, codename = SUPPORT_PERMISSION.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.groups.add(group)
    return user


def make_provider(**fields):
    n = next(_seq)
    defaults = {"code": f"P{n}", "name": f"Provider {n}", "email": f"provider{n}@example.com"}
    return Provider.objects.create(**{**defaults, **fields})


def make_provider_user(*, provider=None, **fields):
    user = make_user(**fields)
    ProviderUser.objects.create(user=user, provider=provider or make_provider())
    return user


def make_course(*, provider=None, **fields):
    n = next(_seq)
    defaults = {"code": f"C{n}", "name": f"Course {n}"}
    return Course.objects.create(provider=provider or make_provider(), **{**defaults, **fields})


def make_cycle(*, year=2026, **fields):
    """A cycle whose dates are in order: the apply deadline and reject-by-default date given or
    defaulted, the other dates derived from them unless given too."""
    fields.setdefault("apply_deadline", datetime(year + 1, 9, 1, 17, 0, tzinfo=UTC))
    fields.setdefault("reject_by_default_date", datetime(year + 1, 9, 30, 22, 59, 59, tzinfo=UTC))
    fields.setdefault("applications_open_date", fields["apply_deadline"] - timedelta(days=330))
    fields.setdefault("decline_by_default_date", fields["reject_by_default_date"] + timedelta(days=6))
    fields.setdefault("next_cycle_opens_date", fields["decline_by_default_date"] + timedelta(days=7))
    fields.setdefault("winter_reject_by_default_date", fields["reject_by_default_date"] + timedelta(days=91))
    fields.setdefault("winter_decline_by_default_date", fields["winter_reject_by_default_date"] + timedelta(days=6))
    cycle, _ = RecruitmentCycle.objects.get_or_create(year=year, defaults=fields)
    return cycle


def make_rule_sets():
    """The rule sets as migration 0014 seeds them (a transactional test's flush empties the table)."""
    migration = importlib.import_module("apps.applications.migrations.0014_cycle_timetables")
    for code, effective_from, effective_to in migration.RULE_SETS:
        RuleSet.objects.get_or_create(code=code, defaults={"effective_from": effective_from, "effective_to": effective_to})


def make_application(*, candidate=None, course=None, cycle=None, state=ApplicationState.UNSUBMITTED, **fields):
    return Application.objects.create(
        candidate=candidate or make_user(),
        course=course or make_course(),
        cycle=cycle or make_cycle(),
        state=state,
        **fields,
    )
