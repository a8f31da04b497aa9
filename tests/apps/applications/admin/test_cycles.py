"""The cycle's admin page, as a support user (the Support group's rights, not a superuser's):
its dates and periods saved through the timetable services, refused with an error on each
wrong field and nothing saved, every edit in the audit trail on the page, and the live
deadlines recalculated when a date they are computed from moves."""

from datetime import UTC, date, datetime, timedelta

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone

from apps.applications.models import ApplicationEvent, CycleChange, NonWorkingPeriod, RecruitmentCycle, RuleSet
from apps.applications.timetables import non_working_period_add
from tests.apps.applications.recalculation import (
    RBD_BEFORE,
    SUPPORT,
    cycle_admin_form,
    live_applications,  # noqa: F401 (a fixture)
    recalculation_jobs,
    run_queued_jobs,
)
from tests.factories import make_cycle, make_support_user

pytestmark = pytest.mark.django_db
EASTER = ("Easter week", "2027-03-30", "2027-04-02")


@pytest.fixture
def support(client):
    user = make_support_user(username="sam")
    client.force_login(user)
    return user


def _url(cycle) -> str:
    return reverse("admin:applications_recruitmentcycle_change", args=[cycle.pk])


def _field_errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def test_support_sees_the_timetable_the_rule_set_and_the_audit_trail(client, support):
    cycle = make_cycle(year=2027)
    non_working_period_add(cycle_id=cycle.pk, actor=SUPPORT, name="Christmas", starts_on=date(2027, 12, 21),
                           ends_on=date(2028, 1, 1))
    page = client.get(_url(cycle)).content.decode()
    for label in ("Applications open", "Apply deadline", "Reject by default date", "Decline by default date",
                  "Next cycle opens", "Winter reject-by-default date", "Winter decline-by-default date",
                  "Courses starting after September", "2024 on: inactive after 30 working days",
                  "Changes (audit trail)", "Non-working period added", "tests: support", "Christmas (period"):
        assert label in page, label


def test_dates_out_of_order_are_refused_on_each_wrong_field_and_nothing_is_saved(client, support,
                                                                                django_capture_on_commit_callbacks):
    cycle = make_cycle(year=2027)
    before = cycle.dates()
    form = cycle_admin_form(
        cycle,
        periods=[(None, *EASTER, False)],
        apply_deadline=cycle.reject_by_default_date + timedelta(days=1),  # after the RBD date
        winter_decline_by_default_date=cycle.winter_reject_by_default_date - timedelta(days=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(cycle), form)
    errors = _field_errors(response)
    assert errors == {
        "reject_by_default_date": ["Must be after the apply deadline (1 October 2028, 23:59 BST)."],
        "winter_decline_by_default_date": [
            "Must be after the winter reject-by-default date (30 December 2028, 22:59 GMT)."
        ],
    }
    cycle.refresh_from_db()
    assert cycle.dates() == before
    assert not NonWorkingPeriod.objects.exists()
    assert not CycleChange.objects.exists()
    assert recalculation_jobs() == []


def test_moving_the_reject_by_default_date_in_the_admin_moves_the_capped_deadlines_and_is_audited(
    client, support, live_applications, django_capture_on_commit_callbacks
):
    """The cap moves before the 20th working day of an application awaiting a decision: its
    deadline follows, with a timeline event, and the change is on the cycle's page."""
    cycle, awaiting, *_ = live_applications
    old_cap = cycle.reject_by_default_date
    new_deadline = datetime(2027, 3, 31, 16, 0, tzinfo=UTC)  # the cycle ends early: 31 March
    new_cap = datetime(2027, 4, 1, 22, 59, 59, tzinfo=UTC)
    form = cycle_admin_form(
        cycle,
        applications_open_date=datetime(2026, 10, 1, 8, 0, tzinfo=UTC),
        apply_deadline=new_deadline,
        reject_by_default_date=new_cap,
        decline_by_default_date=new_cap + timedelta(days=6),
        next_cycle_opens_date=new_cap + timedelta(days=13),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(cycle), form, follow=True)
    assert "will be recalculated in the background" in response.content.decode()
    [job] = recalculation_jobs()
    assert job.args == (cycle.pk,)
    run_queued_jobs()

    awaiting.refresh_from_db()
    assert awaiting.reject_by_default_at == new_cap  # before its 20th working day: the cap binds
    event = ApplicationEvent.objects.get(application=awaiting, kind="deadline_recalculated")
    assert event.detail == {"deadline": "reject_by_default_at", "old": RBD_BEFORE.isoformat(),
                            "new": new_cap.isoformat()}

    change = CycleChange.objects.get(kind=CycleChange.Kind.CYCLE_CHANGED)
    assert (change.actor_user, change.recalculated) == (support, True)
    assert change.before["reject_by_default_date"] == old_cap.isoformat()
    assert change.after["reject_by_default_date"] == new_cap.isoformat()
    assert set(change.before) == {"applications_open_date", "apply_deadline", "reject_by_default_date",
                                  "decline_by_default_date", "next_cycle_opens_date"}
    page = client.get(_url(cycle)).content.decode()
    assert "Dates changed" in page
    assert "reject by default date: 30 September 2028, 23:59 BST → 1 April 2027, 23:59 BST" in page


def test_a_date_todays_rules_do_not_read_moves_no_deadline(client, support, live_applications,
                                                           django_capture_on_commit_callbacks):
    cycle, *_ = live_applications
    later = cycle.winter_decline_by_default_date + timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(cycle), cycle_admin_form(cycle, winter_decline_by_default_date=later), follow=True)
    assert response.status_code == 200
    assert "will be recalculated" not in response.content.decode()
    assert recalculation_jobs() == []
    change = CycleChange.objects.get()
    assert (change.before.keys(), change.recalculated) == ({"winter_decline_by_default_date"}, False)
    assert RecruitmentCycle.objects.get(pk=cycle.pk).winter_decline_by_default_date == later


def test_periods_added_moved_renamed_and_removed_in_the_admin_are_audited_and_recalculate(
    client, support, live_applications, django_capture_on_commit_callbacks
):
    """Adding, moving or removing a period recalculates; renaming it does not; saving unchanged records nothing."""
    cycle, awaiting, *_ = live_applications
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(cycle), cycle_admin_form(cycle, periods=[(None, *EASTER, False)]), follow=True)
    period = NonWorkingPeriod.objects.get()
    assert len(recalculation_jobs()) == 1
    run_queued_jobs()

    steps = [
        ((period.pk, *EASTER, False), None),  # unchanged: nothing recorded
        ((period.pk, "Easter", *EASTER[1:], False), CycleChange.Kind.PERIOD_CHANGED),  # renamed only
        ((period.pk, "Easter", "2027-03-29", "2027-04-02", False), CycleChange.Kind.PERIOD_CHANGED),  # moved
        ((period.pk, "Easter", "2027-03-29", "2027-04-02", True), CycleChange.Kind.PERIOD_REMOVED),
    ]
    recalculated = []
    for row, kind in steps:
        count = CycleChange.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(_url(cycle), cycle_admin_form(cycle, periods=[row]), follow=True)
        assert response.status_code == 200
        assert CycleChange.objects.count() == count + (kind is not None)
        recalculated.append(bool(recalculation_jobs()))
        run_queued_jobs()
    assert recalculated == [False, False, True, True]

    added, renamed, moved, removed = CycleChange.objects.order_by("id")
    assert (added.kind, added.before, added.after) == (
        CycleChange.Kind.PERIOD_ADDED, {}, {"name": "Easter week", "starts_on": "2027-03-30", "ends_on": "2027-04-02"}
    )
    assert (renamed.before, renamed.after, renamed.recalculated) == ({"name": "Easter week"}, {"name": "Easter"}, False)
    assert (moved.before, moved.after, moved.recalculated) == ({"starts_on": "2027-03-30"}, {"starts_on": "2027-03-29"},
                                                               True)
    assert removed.before == {"name": "Easter", "starts_on": "2027-03-29", "ends_on": "2027-04-02"}
    assert {change.actor_user for change in (added, renamed, moved, removed)} == {support}
    assert {change.subject for change in (added, renamed, moved, removed)} >= {f"Easter (period {period.pk})"}
    awaiting.refresh_from_db()
    assert awaiting.reject_by_default_at == RBD_BEFORE


def test_a_refused_period_leaves_the_cycles_dates_and_audit_alone(client, support, django_capture_on_commit_callbacks):
    """The page is one transaction: a backwards period refuses the whole save, the date change with it."""
    cycle = make_cycle(year=2027)
    later = cycle.winter_decline_by_default_date + timedelta(days=7)
    form = cycle_admin_form(cycle, periods=[(None, "Backwards", "2027-04-02", "2027-03-30", False)],
                            winter_decline_by_default_date=later)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(cycle), form)
    assert response.status_code == 200, "the form was accepted"
    assert response.context["inline_admin_formsets"][0].formset.errors
    assert RecruitmentCycle.objects.get(pk=cycle.pk).winter_decline_by_default_date != later
    assert not CycleChange.objects.exists()
    assert django_rq.get_queue("default").count == 0


def test_the_audit_trail_cannot_be_edited_or_deleted(client, support):
    cycle = make_cycle(year=2027)
    non_working_period_add(cycle_id=cycle.pk, actor=SUPPORT, name="Christmas", starts_on=date(2027, 12, 21),
                           ends_on=date(2028, 1, 1))
    change = CycleChange.objects.get()
    assert client.get("/admin/applications/cyclechange/").status_code == 404  # no page of its own
    form = cycle_admin_form(cycle, periods=[(NonWorkingPeriod.objects.get().pk, "Christmas", "2027-12-21",
                                             "2028-01-01", False)])
    form.update({"changes-0-kind": "cycle_created", "changes-0-DELETE": "on"})
    client.post(_url(cycle), form)
    assert CycleChange.objects.get() == change
    assert CycleChange.objects.get().kind == CycleChange.Kind.PERIOD_ADDED


def _add_form(year: int, dates: dict, periods=()) -> dict:
    form = {"year": year, "non_working_periods-TOTAL_FORMS": str(len(periods)),
            "non_working_periods-INITIAL_FORMS": "0", "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0"}
    for name, moment in dates.items():
        local = timezone.localtime(moment)
        form[f"{name}_0"], form[f"{name}_1"] = local.date().isoformat(), local.time().isoformat()
    for i, (name, starts_on, ends_on) in enumerate(periods):
        form.update({f"non_working_periods-{i}-name": name, f"non_working_periods-{i}-starts_on": starts_on,
                     f"non_working_periods-{i}-ends_on": ends_on})
    return form


def test_a_superuser_adds_a_cycle_with_a_period_and_both_are_audited(client):
    """Adding cycles is a superuser's (the Support group does not hold it)."""
    user = make_support_user(is_superuser=True)
    client.force_login(user)
    template = make_cycle(year=2026)
    dates = {name: value.replace(year=value.year + 4) for name, value in template.dates().items()}
    response = client.post("/admin/applications/recruitmentcycle/add/",
                           _add_form(2030, dates, periods=[("Christmas", "2029-12-21", "2030-01-01")]))
    assert response.status_code == 302, _field_errors(response)
    cycle = RecruitmentCycle.objects.get(year=2030)
    assert cycle.dates() == dates
    assert list(cycle.changes.order_by("id").values_list("kind", "actor_user")) == [
        (CycleChange.Kind.CYCLE_CREATED, user.pk), (CycleChange.Kind.PERIOD_ADDED, user.pk)
    ]


def test_a_cycle_opening_where_no_rule_set_is_in_effect_is_refused_on_its_opening_date(client, support):
    cycle = make_cycle(year=2027)
    opens = cycle.applications_open_date
    RuleSet.objects.filter(code="2020-23").delete()
    RuleSet.objects.filter(code="2024-on").update(effective_from=(opens + timedelta(days=30)).date())
    response = client.post(_url(cycle), cycle_admin_form(cycle, applications_open_date=opens + timedelta(days=1)))
    [message] = _field_errors(response)["applications_open_date"]
    assert message.endswith("no rule set is in effect: check the rule sets' dates.")
    assert RecruitmentCycle.objects.get(pk=cycle.pk).applications_open_date == opens
    assert not CycleChange.objects.exists()
