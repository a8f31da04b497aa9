"""Chasers: one reminder per application and kind before a deadline falls.

A provider is chased while an application awaits its decision and the reject-by-default
deadline is within ``PROVIDER_CHASER_WORKING_DAYS`` working days; a candidate while
an offer is open and the decline-by-default deadline is within
``CANDIDATE_CHASER_WORKING_DAYS`` (the rules, ``CHASER_RULES``, are declared in
``rules.py`` with the rest of the timed state machine). The rule is a state, not an instant: any sweep
that finds an application inside its window and without a ``ChaserSent`` row chases it,
so a missed or late sweep still sends the chaser, and a repeated one sends nothing.

Only deadlines still in the future are chased (by the database's clock): an application
already past its deadline is about to be changed by the timed rule itself, and enabling
chasers on old data must not email everyone whose window has gone by. Support can ask
for those explicitly with ``include_past`` (``manage.py send_chasers --include-past``).
"""

from datetime import datetime

from django.db import transaction

from apps.applications.actors import Actor
from apps.applications.batches import BatchResult, batch_run_isolated
from apps.applications.calendars import calendar_for_cycle
from apps.applications.models import Application, ApplicationEvent, ChaserSent
from apps.applications.rules import ChaserRule, chaser_rule
from apps.applications.working_days import working_days_left
from apps.outbox.models import OutboxQueue
from apps.outbox.services import Email, outbox_emails_add


def _chase_set(rule: ChaserRule, application_ids: list[int], actor: Actor, now: datetime, include_past: bool) -> int:
    """Chase the eligible ones among the ids in one transaction; return how many were chased.

    The applications are locked first (every chaser writer does the same), so the
    ``ChaserSent`` rows read next cannot change under us: the ids without one are exactly
    the rows this transaction inserts. The unique constraint and the outbox key are the
    backstops if anything ever writes a chaser without the lock.
    """
    eligible = {"state__in": rule.states, f"{rule.deadline_field}__isnull": False}
    if not include_past:
        # The same clock as the window below (``now``, the job's): a reminder is not a binding
        # deadline, and one check must not read two clocks.
        eligible[f"{rule.deadline_field}__gt"] = now
    with transaction.atomic():
        locked = list(
            Application.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=application_ids, **eligible)
            .select_related("cycle", "candidate", "course__provider")
            .prefetch_related("cycle__non_working_periods")
        )
        if not locked:
            return 0
        already = set(
            ChaserSent.objects.filter(application__in=locked, kind=rule.kind).values_list("application_id", flat=True)
        )
        if already:  # chased, but the flag says not: the flag follows the ChaserSent row
            Application.objects.filter(pk__in=already).update(**{rule.sent_field: True})
        windows = {}
        to_chase = []
        for application in locked:
            if application.pk in already:
                continue
            if application.cycle_id not in windows:
                windows[application.cycle_id] = rule.window_end(calendar=calendar_for_cycle(application.cycle), now=now)
            if getattr(application, rule.deadline_field) <= windows[application.cycle_id]:
                to_chase.append(application)
        if not to_chase:
            return 0
        ChaserSent.objects.bulk_create(
            [ChaserSent(application=application, kind=rule.kind) for application in to_chase], ignore_conflicts=True
        )
        Application.objects.filter(pk__in=[application.pk for application in to_chase]).update(
            **{rule.sent_field: True}
        )
        events = []
        emails = []
        for application in to_chase:
            deadline = getattr(application, rule.deadline_field)
            events.append(
                ApplicationEvent(
                    application=application,
                    kind=f"{rule.kind}_chaser_sent",
                    from_state=application.state,
                    to_state=application.state,
                    detail={rule.deadline_field: deadline.isoformat()},
                    **actor.event_fields(),
                )
            )
            recipient = (
                application.course.provider.email if rule.recipient == "provider" else application.candidate.email
            )
            emails.append(
                Email(
                    key=f"chaser:{rule.kind}:{application.pk}",
                    to=[recipient],
                    template=rule.template,
                    queue=OutboxQueue.BULK,  # reminders wait behind decision emails
                    context={
                        "application": application,
                        "candidate": application.candidate,
                        "course": application.course,
                        "provider": application.course.provider,
                        "deadline": deadline,
                        "working_days_left": working_days_left(
                            now=now, deadline=deadline, calendar=calendar_for_cycle(application.cycle)
                        ),
                    },
                )
            )
        ApplicationEvent.objects.bulk_create(events)
        outbox_emails_add(emails=emails)
        return len(to_chase)


def applications_chase(
    *, kind: str, application_ids: list[int], actor: Actor, now: datetime, include_past: bool = False
) -> BatchResult:
    """Send the ``kind`` chaser for each application among the ids that is inside its window and not yet chased.

    Ids that are outside the window, decided, or already chased are skipped, so a retried,
    duplicated or concurrent batch sends nothing twice.
    """
    rule = chaser_rule(kind)
    return batch_run_isolated(
        lambda ids: _chase_set(rule, ids, actor, now, include_past), application_ids, what=f"{kind} chaser"
    )
