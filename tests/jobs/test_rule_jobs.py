"""The jobs of the timed rules, run in this process against real Redis: thin, checked, no overlap."""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from apps.applications.models import ApplicationState
from apps.core.leases import Lease
from apps.core.queueing.arguments import BadJobArguments
from apps.core.redis import redis_connection
from jobs import applications, chasers, cycles, monitoring
from tests.factories import make_application, make_cycle

pytestmark = pytest.mark.django_db
S = ApplicationState


def _queued(queue: str):
    return django_rq.get_queue(queue).get_jobs()


@pytest.mark.parametrize(
    ("job", "args"),
    [
        (applications.applications_decline_by_default, ("1,2",)),
        (chasers.applications_chase_providers, ([1, "2"],)),
        (chasers.applications_chase_candidates, (None,)),
        (cycles.applications_mark_not_sent, ([0],)),
        (cycles.applications_recalculate_deadlines, ({"ids": [1]},)),
        (cycles.cycle_close_fan_out, ("2027",)),
        (cycles.cycle_deadlines_recalculate, (1, -5)),
    ],
)
def test_bad_arguments_are_clear_errors(job, args):
    with pytest.raises(BadJobArguments, match="must be"):
        job(*args)


def test_decline_sweep_enqueues_batches_once_and_skips_while_another_run_holds_the_lease(settings):
    settings.APPLY_BATCH_SIZE = 2
    now = timezone.now()
    due = [make_application(state=S.OFFER, decline_by_default_at=now - timedelta(minutes=i + 1)) for i in range(3)]
    make_application(state=S.OFFER, decline_by_default_at=now + timedelta(minutes=5))

    assert applications.applications_decline_due() == {"due": 3, "enqueued": 3, "batches": 2}
    batches = _queued("default")
    assert {job.func_name for job in batches} == {"jobs.applications.applications_decline_by_default"}
    assert sorted(pk for job in batches for pk in job.args[0]) == sorted(a.pk for a in due)
    # Claimed ids are not enqueued again by the next sweep while their batch is queued.
    assert applications.applications_decline_due() == {"due": 3, "enqueued": 0, "batches": 0}

    lease = Lease(redis_connection(), "sweep:applications_decline_due", ttl_seconds=60)
    assert lease.acquire()
    assert applications.applications_decline_due() == {"skipped": True}
    lease.release()


def test_one_sweep_pages_through_a_spike_bigger_than_a_page(settings):
    settings.APPLY_SWEEP_LIMIT = 2
    settings.APPLY_BATCH_SIZE = 2
    # Equal deadlines (a cycle's cap falls at one instant): the keyset pages by id within them.
    deadline = timezone.now() - timedelta(minutes=1)
    due = [make_application(state=S.AWAITING_PROVIDER_DECISION, reject_by_default_at=deadline) for _ in range(5)]

    assert applications.applications_reject_due() == {"due": 5, "enqueued": 5, "batches": 3}
    assert sorted(pk for job in _queued("default") for pk in job.args[0]) == sorted(a.pk for a in due)


def test_chaser_sweep_fans_out_to_the_process_job_of_its_kind():
    make_application(state=S.INTERVIEWING, reject_by_default_at=timezone.now() + timedelta(hours=2))
    make_application(state=S.OFFER, decline_by_default_at=timezone.now() + timedelta(hours=2))
    assert chasers.applications_chase_providers_due()["enqueued"] == 1
    assert chasers.applications_chase_candidates_due()["enqueued"] == 1
    assert sorted(job.func_name for job in _queued("default")) == [
        "jobs.chasers.applications_chase_candidates",
        "jobs.chasers.applications_chase_providers",
    ]


def test_cycle_fan_out_continues_in_a_follow_up_job_when_its_budget_is_spent(settings, monkeypatch):
    settings.APPLY_SWEEP_LIMIT = 2
    settings.APPLY_BATCH_SIZE = 1
    monkeypatch.setattr("apps.core.queueing.pages.BUDGET_SECONDS", 0)
    now = timezone.now()
    cycle = make_cycle(year=2025, apply_deadline=now - timedelta(hours=1), reject_by_default_date=now)
    ids = [make_application(cycle=cycle).pk for _ in range(5)]

    result = cycles.cycles_close_due()
    assert result["cycles"] == [cycle.pk]
    [fan_out] = _queued("sweeps")
    assert (fan_out.func_name, fan_out.args) == ("jobs.cycles.cycle_close_fan_out", (cycle.pk, 0))

    first = cycles.cycle_close_fan_out(cycle.pk, 0)
    assert (first["enqueued"], first["resume_after"]) == (2, ids[1])
    continuation = _queued("sweeps")[-1]
    assert (continuation.func_name, continuation.args) == ("jobs.cycles.cycle_close_fan_out", (cycle.pk, ids[1]))
    second = cycles.cycle_close_fan_out(cycle.pk, ids[1])
    last = cycles.cycle_close_fan_out(cycle.pk, ids[3])
    assert (second["enqueued"], last["enqueued"], last["resume_after"]) == (2, 1, None)
    batched = sorted(job.args[0][0] for job in _queued("default"))
    assert batched == ids


def test_monitoring_jobs_return_what_they_did():
    assert monitoring.invariants_check()["failed_jobs"] == 0
    assert monitoring.daily_report_send() == {"written": True}
    assert monitoring.daily_report_send() == {"written": False}
