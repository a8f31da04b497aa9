"""Chasers: one reminder per application and kind before a deadline falls.

A provider is chased while an application awaits its decision and the reject-by-default
deadline is within ``APPLY_PROVIDER_CHASER_WORKING_DAYS`` working days; a candidate while
an offer is open and the decline-by-default deadline is within
``APPLY_CANDIDATE_CHASER_WORKING_DAYS``. The rule is a state, not an instant: any sweep
that finds an application inside its window and without a ``ChaserSent`` row chases it,
so a missed or late sweep still sends the chaser, and a repeated one sends nothing.

Only deadlines still in the future are chased (by the database's clock): an application
already past its deadline is about to be changed by the timed rule itself, and enabling
chasers on old data must not email everyone whose window has gone by. Support can ask
for those explicitly with ``include_past`` (``manage.py send_chasers --include-past``).
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from apps.applications.actors import Actor
from apps.applications.batches import BatchResult, batch_run_isolated
from apps.applications.calendars import calendar_for_cycle
from apps.applications.models import (
    AWAITING_DECISION_STATES,
    Application,
    ApplicationEvent,
    ApplicationState,
    ChaserKind,
    ChaserSent,
    RecruitmentCycle,
)
from apps.applications.working_days import end_of_london_day, london_date, working_days_left
from apps.outbox.models import OutboxQueue
from apps.outbox.services import Email, outbox_emails_add


@dataclass(frozen=True)
class ChaserRule:
    kind: str
    states: tuple[str, ...]
    deadline_field: str
    working_days_setting: str
    recipient: str  # provider | candidate
    template: str
    sent_field: str  # Application's flag, set with the ChaserSent row

    @property
    def working_days(self) -> int:
        return getattr(settings, self.working_days_setting)

    def window_end(self, *, cycle: RecruitmentCycle, now: datetime) -> datetime:
        """The latest deadline inside the window: the end of the Nth working day after today (London)."""
        calendar = calendar_for_cycle(cycle)
        return end_of_london_day(calendar.add_working_days(london_date(now), self.working_days))


CHASER_RULES = {
    ChaserKind.PROVIDER: ChaserRule(
        kind=ChaserKind.PROVIDER,
        states=AWAITING_DECISION_STATES,
        deadline_field="reject_by_default_at",
        working_days_setting="APPLY_PROVIDER_CHASER_WORKING_DAYS",
        recipient="provider",
        template="chaser_provider",
        sent_field="provider_chaser_sent",
    ),
    ChaserKind.CANDIDATE: ChaserRule(
        kind=ChaserKind.CANDIDATE,
        states=(ApplicationState.OFFER,),
        deadline_field="decline_by_default_at",
        working_days_setting="APPLY_CANDIDATE_CHASER_WORKING_DAYS",
        recipient="candidate",
        template="chaser_candidate",
        sent_field="candidate_chaser_sent",
    ),
}


def chaser_rule(kind: str) -> ChaserRule:
    try:
        return CHASER_RULES[kind]
    except KeyError:
        raise ValueError(f"unknown chaser kind {kind!r}; expected one of {', '.join(CHASER_RULES)}") from None


def _chase_set(rule: ChaserRule, application_ids: list[int], actor: Actor, now: datetime, include_past: bool) -> int:
    """Chase the eligible ones among the ids in one transaction; return how many were chased.

    The applications are locked first (every chaser writer does the same), so the
    ``ChaserSent`` rows read next cannot change under us: the ids without one are exactly
    the rows this transaction inserts. The unique constraint and the outbox key are the
    backstops if anything ever writes a chaser without the lock.
    """
    eligible = {"state__in": rule.states, f"{rule.deadline_field}__isnull": False}
    if not include_past:
        eligible[f"{rule.deadline_field}__gt"] = Now()
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
                windows[application.cycle_id] = rule.window_end(cycle=application.cycle, now=now)
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
