"""Job arguments: an id beyond a bigint is a bad argument, refused before the job touches the
database (it used to fail inside the job, as a database error, and be retried to no avail)."""

import django_rq
import pytest
from rq import Retry
from rq.job import JobStatus

from apps.applications.models import ApplicationState
from apps.core.queueing.arguments import MAX_ID, BadJobArguments, an_id, an_id_after, id_list
from apps.outbox.models import OutboxEmail, OutboxStatus
from jobs import applications, chasers, cycles, outbox
from tests.factories import make_application, make_cycle
from tests.jobs.burst import run_burst_worker
from tests.processes import child_env

TOO_BIG = MAX_ID + 1


def test_the_largest_id_is_the_largest_bigint():
    assert MAX_ID == 9223372036854775807
    assert id_list([1, MAX_ID], name="ids") == [1, MAX_ID]
    assert an_id(MAX_ID, name="cycle_id") == MAX_ID
    assert (an_id_after(0, name="after_id"), an_id_after(MAX_ID, name="after_id")) == (0, MAX_ID)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (id_list, [1, TOO_BIG], f"ids must be ids no larger than {MAX_ID} (a bigint), got [1, {TOO_BIG}]"),
        (id_list, [2**64], "ids must be ids no larger than"),
        (id_list, [0], "ids must be a list of positive integer ids, got [0]"),
        (id_list, [True], "ids must be a list of positive integer ids, got [True]"),
        (an_id, TOO_BIG, f"ids must be an integer id from 1 to {MAX_ID}, got {TOO_BIG}"),
        (an_id, 0, f"ids must be an integer id from 1 to {MAX_ID}, got 0"),  # no record has id 0
        (an_id, True, "ids must be an integer id from 1"),
        (an_id_after, TOO_BIG, f"ids must be an integer id from 0 (the first page) to {MAX_ID}, got {TOO_BIG}"),
        (an_id_after, -1, "ids must be an integer id from 0 (the first page)"),
    ],
)
def test_an_id_out_of_range_is_a_bad_argument_with_a_clear_message(check, value, message):
    with pytest.raises(BadJobArguments) as raised:
        check(value, name="ids")
    assert message in str(raised.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("job", "args"),
    [
        (outbox.outbox_emails_deliver, ([1, TOO_BIG],)),  # was OverflowError on SQLite
        (applications.applications_reject_by_default, ([TOO_BIG],)),
        (chasers.applications_chase_candidates, ([2**64],)),
        (cycles.applications_mark_not_sent, ([TOO_BIG],)),
        (cycles.cycle_close_fan_out, (TOO_BIG, 0)),  # was OverflowError on SQLite
        (cycles.cycle_close_fan_out, (1, TOO_BIG)),
        (cycles.cycle_deadlines_recalculate, (0,)),
    ],
)
def test_each_job_refuses_an_id_out_of_range_and_changes_nothing(job, args):
    due = make_application(state=ApplicationState.AWAITING_PROVIDER_DECISION, cycle=make_cycle(year=2024))
    with pytest.raises(BadJobArguments, match="must be"):
        job(*args)
    due.refresh_from_db()
    assert due.state == ApplicationState.AWAITING_PROVIDER_DECISION
    assert not OutboxEmail.objects.exists()
    assert not django_rq.get_queue("default").count and not django_rq.get_queue("sweeps").count


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fails_jobs_with_ids_beyond_a_bigint_once_without_retrying(processes, redis_db):
    email = OutboxEmail.objects.create(key="offer:candidate:1", to=["c@example.com"], subject="s", body_text="b")
    queues = {"email": django_rq.get_queue("email"), "sweeps": django_rq.get_queue("sweeps")}
    deliver = queues["email"].enqueue(
        "jobs.outbox.outbox_emails_deliver", [email.pk, TOO_BIG], retry=Retry(max=3), job_id="deliver-too-big"
    )
    fan_out = queues["sweeps"].enqueue(
        "jobs.cycles.cycle_close_fan_out", TOO_BIG, 0, retry=Retry(max=3), job_id="close-cycle-too-big"
    )

    worker = run_burst_worker(processes, child_env())

    for job, message in [
        (deliver, f"email_ids must be ids no larger than {MAX_ID} (a bigint), got [{email.pk}, {TOO_BIG}]"),
        (fan_out, f"cycle_id must be an integer id from 1 to {MAX_ID}, got {TOO_BIG}"),
    ]:
        job.refresh()
        assert (job.get_status(), job.retries_left) == (JobStatus.FAILED, 0)
        assert "BadJobArguments: " + message in job.latest_result().exc_string
    assert queues["email"].failed_job_registry.get_job_ids() == ["deliver-too-big"]
    assert queues["sweeps"].failed_job_registry.get_job_ids() == ["close-cycle-too-big"]
    assert worker.output().count("bad job arguments, not retried") == 2
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxStatus.PENDING, 0)  # not even claimed
