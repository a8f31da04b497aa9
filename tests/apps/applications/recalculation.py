"""What the tests of deadline recalculation share: a cycle with live deadlines whose days are
known, the jobs a change enqueues, running them as a worker would, and the cycle's admin form."""

from datetime import UTC, datetime

import django_rq
import pytest
from django.utils import timezone

from apps.applications import services
from apps.applications.actors import Actor
from apps.applications.models import ApplicationState
from apps.applications.models.cycles import CYCLE_DATE_FIELDS
from tests.factories import make_application, make_cycle

S = ApplicationState
#: Who edits timetables in the service-level tests.
SUPPORT = Actor(job_name="tests: support")

SUBMITTED = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # Wednesday, GMT
# 20 working days, skipping Good Friday and Easter Monday: Friday 9 April (BST).
RBD_BEFORE = datetime(2027, 4, 9, 22, 59, 59, 999999, tzinfo=UTC)
# With 30 March - 2 April off as well: Thursday 15 April.
RBD_AFTER = datetime(2027, 4, 15, 22, 59, 59, 999999, tzinfo=UTC)
OFFERED = datetime(2027, 3, 24, 12, 0, tzinfo=UTC)  # Wednesday
DBD_BEFORE = datetime(2027, 4, 9, 22, 59, 59, 999999, tzinfo=UTC)  # 25, 30, 31 Mar, 1, 2, 5-9 Apr
DBD_AFTER = datetime(2027, 4, 15, 22, 59, 59, 999999, tzinfo=UTC)  # 25 Mar, 5-9, 12-15 Apr


def recalculation_jobs():
    return [job for job in django_rq.get_queue("default").get_jobs() if job.func_name.startswith("jobs.cycles.")]


def run_queued_jobs():
    """Run what is queued on 'default', in order, in this process (the worker's part)."""
    queue = django_rq.get_queue("default")
    while job_ids := queue.get_job_ids():
        job = queue.fetch_job(job_ids[0])
        queue.remove(job)
        job.func(*job.args, **job.kwargs)


@pytest.fixture
def live_applications():
    cycle = make_cycle(year=2027)
    other_cycle = make_cycle(year=2028)
    awaiting = make_application(cycle=cycle)
    services.application_submit(application_id=awaiting.pk, actor=Actor(), now=SUBMITTED)
    offer = make_application(cycle=cycle, state=S.INTERVIEWING, submitted_at=SUBMITTED)
    services.application_make_offer(application_id=offer.pk, actor=Actor(), now=OFFERED)
    unaffected = make_application(cycle=cycle)
    services.application_submit(application_id=unaffected.pk, actor=Actor(), now=datetime(2027, 5, 4, 9, 0, tzinfo=UTC))
    elsewhere = make_application(cycle=other_cycle)
    services.application_submit(application_id=elsewhere.pk, actor=Actor(), now=SUBMITTED)
    for application in (awaiting, offer, unaffected, elsewhere):
        application.refresh_from_db()
    assert (awaiting.reject_by_default_at, offer.decline_by_default_at) == (RBD_BEFORE, DBD_BEFORE)
    return cycle, awaiting, offer, unaffected, elsewhere


def cycle_admin_form(cycle, *, periods=(), **dates) -> dict:
    """The cycle's admin change form as the browser posts it: its dates (``dates`` overriding,
    as aware datetimes), its periods as ``(id or None, name, starts_on, ends_on, delete)`` rows,
    and the read-only audit inline's empty management form."""
    form = {"year": cycle.year}
    for name in CYCLE_DATE_FIELDS:
        moment = timezone.localtime(dates.get(name, getattr(cycle, name)))
        form[f"{name}_0"] = moment.date().isoformat()
        form[f"{name}_1"] = moment.time().replace(microsecond=0).isoformat()
    initial = 0
    for i, (period_id, name, starts_on, ends_on, delete) in enumerate(periods):
        form.update({
            f"non_working_periods-{i}-cycle": cycle.pk,
            f"non_working_periods-{i}-name": name,
            f"non_working_periods-{i}-starts_on": starts_on,
            f"non_working_periods-{i}-ends_on": ends_on,
        })
        if period_id is not None:
            form[f"non_working_periods-{i}-id"] = period_id
            initial += 1
        if delete:
            form[f"non_working_periods-{i}-DELETE"] = "on"
    form.update({
        "non_working_periods-TOTAL_FORMS": str(len(periods)),
        "non_working_periods-INITIAL_FORMS": str(initial),
        "non_working_periods-MIN_NUM_FORMS": "0",
        "non_working_periods-MAX_NUM_FORMS": "1000",
        "changes-TOTAL_FORMS": str(cycle.changes.count()),
        "changes-INITIAL_FORMS": str(cycle.changes.count()),
    })
    for i, change in enumerate(cycle.changes.all()):
        form[f"changes-{i}-id"] = change.pk
        form[f"changes-{i}-cycle"] = cycle.pk
    return form
