"""Writes to applications: one function per use case.

Every transition is a compare-and-set: the row is locked (PostgreSQL) or the write lock
is held (SQLite, immediate transactions) and the update re-checks the state, so a
retried, duplicated or concurrent call changes nothing twice. The timeline event and the
outbox emails are written in the same transaction as the state change.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, CharField, F, Value
from django.db.models.functions import Cast, Coalesce, Concat, JSONArray, JSONObject, Now, NullIf, Trim

from apps.applications.actors import Actor
from apps.applications.batches import BatchResult, batch_run_isolated
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import ApplicationNotFound, DomainError, TransitionNotAllowed
from apps.applications.models import AWAITING_DECISION_STATES, Application, ApplicationEvent, ApplicationState
from apps.applications.working_days import decline_by_default_at, reject_by_default_at
from apps.core.sql import insert_from_select
from apps.outbox.services import Email, outbox_emails_add, outbox_emails_insert

logger = logging.getLogger(__name__)
S = ApplicationState


def _locked(application_id: int) -> Application:
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("cycle", "course__provider", "candidate")
        .filter(pk=application_id)
        .first()
    )
    if application is None:
        raise ApplicationNotFound(application_id)
    return application


def _transition(
    *,
    application_id: int,
    allowed_from: tuple[str, ...],
    to_state: str,
    action: str,
    actor: Actor,
    updates: dict | None = None,
    detail: dict | None = None,
) -> Application:
    """Lock, check, update (re-checking the state), record the event. Call inside a transaction."""
    application = _locked(application_id)
    if application.state not in allowed_from:
        raise TransitionNotAllowed(application_id=application_id, current_state=application.state, action=action)
    changed = Application.objects.filter(pk=application.pk, state=application.state).update(
        state=to_state, updated_at=Now(), **(updates or {})
    )
    if changed != 1:  # lost a race on a backend without row locks
        application.refresh_from_db()
        raise TransitionNotAllowed(application_id=application_id, current_state=application.state, action=action)
    ApplicationEvent.objects.create(
        application=application,
        kind=action,
        from_state=application.state,
        to_state=to_state,
        detail=detail or {},
        **actor.event_fields(),
    )
    application.refresh_from_db()
    return application


def _email_context(application: Application) -> dict:
    return {
        "application": application,
        "candidate": application.candidate,
        "course": application.course,
        "provider": application.course.provider,
    }


def application_submit(*, application_id: int, actor: Actor, now: datetime) -> Application:
    """The candidate submits: the provider now has N working days to decide."""
    with transaction.atomic():
        application = _locked(application_id)
        cycle = application.cycle
        if now > cycle.apply_deadline:
            raise DomainError(f"The {cycle} closed to new applications on {cycle.apply_deadline:%d %B %Y}.")
        deadline = reject_by_default_at(
            submitted_at=now,
            calendar=calendar_for_cycle(cycle),
            working_days=settings.APPLY_RBD_WORKING_DAYS,
            cap=cycle.reject_by_default_date,
        )
        application = _transition(
            application_id=application_id,
            allowed_from=(S.UNSUBMITTED,),
            to_state=S.AWAITING_PROVIDER_DECISION,
            action="submit",
            actor=actor,
            updates={"submitted_at": now, "reject_by_default_at": deadline},
            detail={"reject_by_default_at": deadline.isoformat()},
        )
        provider = application.course.provider
        outbox_emails_add(
            emails=[
                Email(
                    key=f"submitted:provider:{application.pk}",
                    to=[provider.email],
                    template="application_submitted",
                    context=_email_context(application),
                )
            ]
        )
    return application


def application_interview(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=(S.AWAITING_PROVIDER_DECISION,),
            to_state=S.INTERVIEWING,
            action="interview",
            actor=actor,
        )


def application_reject(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=AWAITING_DECISION_STATES,
            to_state=S.REJECTED,
            action="reject",
            actor=actor,
            updates={"decided_at": Now()},
        )


def application_withdraw(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=AWAITING_DECISION_STATES,
            to_state=S.WITHDRAWN,
            action="withdraw",
            actor=actor,
            updates={"decided_at": Now()},
        )


def application_make_offer(*, application_id: int, actor: Actor, now: datetime) -> Application:
    """The provider offers a place: the candidate has N working days to answer."""
    with transaction.atomic():
        application = _locked(application_id)
        deadline = decline_by_default_at(
            offered_at=now,
            calendar=calendar_for_cycle(application.cycle),
            working_days=settings.APPLY_DBD_WORKING_DAYS,
        )
        application = _transition(
            application_id=application_id,
            allowed_from=AWAITING_DECISION_STATES,
            to_state=S.OFFER,
            action="make_offer",
            actor=actor,
            updates={"offered_at": now, "decline_by_default_at": deadline, "decided_at": Now()},
            detail={"decline_by_default_at": deadline.isoformat()},
        )
        outbox_emails_add(
            emails=[
                Email(
                    key=f"offer:candidate:{application.pk}",
                    to=[application.candidate.email],
                    template="offer_made",
                    context=_email_context(application),
                )
            ]
        )
    return application


def application_accept_offer(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id, allowed_from=(S.OFFER,), to_state=S.ACCEPTED, action="accept_offer", actor=actor
        )


def application_decline_offer(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id, allowed_from=(S.OFFER,), to_state=S.DECLINED, action="decline_offer", actor=actor
        )


def application_withdraw_offer(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=(S.OFFER,),
            to_state=S.OFFER_WITHDRAWN,
            action="withdraw_offer",
            actor=actor,
        )


def application_confirm_recruited(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=(S.ACCEPTED,),
            to_state=S.RECRUITED,
            action="confirm_recruited",
            actor=actor,
        )


def application_conditions_not_met(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            allowed_from=(S.ACCEPTED,),
            to_state=S.CONDITIONS_NOT_MET,
            action="conditions_not_met",
            actor=actor,
        )


@dataclass(frozen=True)
class _TimedRule:
    """A transition the clock makes once a deadline has passed (reject or decline by default)."""

    kind: str
    from_states: tuple[str, ...]
    deadline_field: str
    to_state: str
    flag_field: str
    emails: tuple[tuple[str, str, str], ...]  # (key prefix, recipient: provider|candidate, template)
    #: Recipients whose email waits: the candidate hears a minute after the provider (a
    #: delayed one-off job; the outbox row's available_at holds it back from the sweep too).
    delayed: tuple[str, ...] = ()


REJECT_BY_DEFAULT = _TimedRule(
    kind="reject_by_default",
    from_states=AWAITING_DECISION_STATES,
    deadline_field="reject_by_default_at",
    to_state=S.REJECTED,
    flag_field="rejected_by_default",
    emails=(
        ("rbd:provider", "provider", "rejected_by_default_provider"),
        ("rbd:candidate", "candidate", "rejected_by_default_candidate"),
    ),
    delayed=("candidate",),
)
DECLINE_BY_DEFAULT = _TimedRule(
    kind="decline_by_default",
    from_states=(S.OFFER,),
    deadline_field="decline_by_default_at",
    to_state=S.DECLINED,
    flag_field="declined_by_default",
    emails=(
        ("dbd:provider", "provider", "declined_by_default_provider"),
        ("dbd:candidate", "candidate", "declined_by_default_candidate"),
    ),
)


def _candidate_delay() -> timedelta | None:
    seconds = settings.APPLY_CANDIDATE_EMAIL_DELAY_SECONDS
    return timedelta(seconds=seconds) if seconds > 0 else None


def _email_snapshot() -> JSONObject:
    """The timed-rule emails' context, taken by the database in the insert: the same names
    the templates use with model instances, as plain values (rendered at delivery)."""
    full_name = NullIf(Trim(Concat("candidate__first_name", Value(" "), "candidate__last_name")), Value(""))
    return JSONObject(
        application=JSONObject(
            pk="pk", reject_by_default_at="reject_by_default_at", decline_by_default_at="decline_by_default_at"
        ),
        candidate=JSONObject(username="candidate__username", get_full_name=Coalesce(full_name, Value(""))),
        course=JSONObject(name="course__name", code="course__code"),
        provider=JSONObject(name="provider__name"),
    )


def _timed_set(rule: _TimedRule, application_ids: list[int], actor: Actor) -> list[int]:
    """Apply ``rule`` to the due ones among ``application_ids`` in one transaction; return the changed ids.

    Due is decided by the database's clock (``Now()``) inside the locked read and re-checked by
    the update, whichever host runs the job. Rows locked by a concurrent job are skipped:
    that job handles them, or the next sweep does if it rolls back.

    Set-based: a handful of statements per batch whatever its size. The timeline events
    are copied from the locked rows (their state before the change) and the outbox emails
    from the changed rows, each in one ``INSERT ... SELECT``; the emails are rendered at
    delivery, outside this transaction.
    """
    due_filter = {"state__in": rule.from_states, f"{rule.deadline_field}__lte": Now()}
    with transaction.atomic():
        ids = list(
            Application.objects.select_for_update(skip_locked=True)
            .filter(pk__in=application_ids, **due_filter)
            .values_list("pk", flat=True)
        )
        if not ids:
            return []
        locked = Application.objects.filter(pk__in=ids)
        insert_from_select(
            ApplicationEvent,
            {
                "application_id": F("pk"),
                "kind": Value(rule.kind),
                "from_state": F("state"),
                "to_state": Value(rule.to_state),
                "actor_user_id": Value(actor.user.pk if actor.user else None, output_field=BigIntegerField()),
                "actor_job_name": Value(actor.job_name),
                "actor_job_id": Value(actor.job_id),
                "detail": JSONObject(),
            },
            locked,
        )
        changed = Application.objects.filter(pk__in=ids, **due_filter).update(
            state=rule.to_state, decided_at=Now(), updated_at=Now(), **{rule.flag_field: True}
        )
        if changed != len(ids):
            raise RuntimeError(f"compare-and-set changed {changed} of {len(ids)} locked rows")
        for prefix, recipient, template in rule.emails:
            outbox_emails_insert(
                source=locked,
                key=Concat(Value(f"{prefix}:"), Cast("pk", CharField())),
                to=JSONArray("provider__email" if recipient == "provider" else "candidate__email"),
                context=_email_snapshot(),
                template=template,
                delay=_candidate_delay() if recipient in rule.delayed else None,
            )
        return ids


def applications_reject_by_default(*, application_ids: list[int], actor: Actor) -> BatchResult:
    """Reject by default every due application among the ids; not-yet-due or decided ones are left alone.

    The batch runs as one set-based transaction; if that fails, each record is retried on
    its own so one bad record is logged and counted while the rest go on.
    """
    return batch_run_isolated(
        lambda ids: len(_timed_set(REJECT_BY_DEFAULT, ids, actor)), application_ids, what="reject_by_default"
    )


def applications_decline_by_default(*, application_ids: list[int], actor: Actor) -> BatchResult:
    """Decline by default every offer among the ids whose DBD has passed; answered ones are left alone."""
    return batch_run_isolated(
        lambda ids: len(_timed_set(DECLINE_BY_DEFAULT, ids, actor)), application_ids, what="decline_by_default"
    )
