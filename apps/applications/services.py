"""Writes to applications: one function per use case.

Every transition is a compare-and-set: the row is locked (PostgreSQL) or the write lock
is held (SQLite, immediate transactions) and the update re-checks the state, so a
retried, duplicated or concurrent call changes nothing twice. The timeline event and the
outbox emails are written in the same transaction as the state change.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from apps.applications.actors import Actor
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import ApplicationNotFound, DomainError, TransitionNotAllowed
from apps.applications.models import AWAITING_DECISION_STATES, Application, ApplicationEvent, ApplicationState
from apps.applications.working_days import decline_by_default_at, reject_by_default_at
from apps.outbox.services import Email, outbox_emails_add

logger = logging.getLogger(__name__)
S = ApplicationState


@dataclass
class BatchResult:
    changed: int = 0
    skipped: int = 0
    failed: int = 0


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


def _reject_by_default_set(application_ids: list[int], actor: Actor) -> list[int]:
    """Reject the due ones among ``application_ids`` in one transaction; return the changed ids.

    Due is decided by the database's clock (``Now()``) inside the locked read and re-checked by
    the update, whichever host runs the job. Rows locked by a concurrent job are skipped:
    that job handles them, or the next sweep does if it rolls back.
    """
    with transaction.atomic():
        due = list(
            Application.objects.select_for_update(skip_locked=True)
            .filter(pk__in=application_ids, state__in=AWAITING_DECISION_STATES, reject_by_default_at__lte=Now())
            .values_list("pk", "state")
        )
        if not due:
            return []
        ids = [pk for pk, _ in due]
        changed = Application.objects.filter(pk__in=ids, state__in=AWAITING_DECISION_STATES).update(
            state=S.REJECTED, rejected_by_default=True, decided_at=Now(), updated_at=Now()
        )
        if changed != len(ids):
            raise RuntimeError(f"compare-and-set changed {changed} of {len(ids)} locked rows")
        ApplicationEvent.objects.bulk_create(
            [
                ApplicationEvent(
                    application_id=pk,
                    kind="reject_by_default",
                    from_state=state,
                    to_state=S.REJECTED,
                    **actor.event_fields(),
                )
                for pk, state in due
            ]
        )
        emails = []
        for application in Application.objects.filter(pk__in=ids).select_related("candidate", "course__provider"):
            context = _email_context(application)
            emails.append(
                Email(
                    key=f"rbd:provider:{application.pk}",
                    to=[application.course.provider.email],
                    template="rejected_by_default_provider",
                    context=context,
                )
            )
            emails.append(
                Email(
                    key=f"rbd:candidate:{application.pk}",
                    to=[application.candidate.email],
                    template="rejected_by_default_candidate",
                    context=context,
                )
            )
        outbox_emails_add(emails=emails)
        return ids


def applications_reject_by_default(*, application_ids: list[int], actor: Actor) -> BatchResult:
    """Reject by default every due application among the ids; not-yet-due or decided ones are left alone.

    The batch runs as one set-based transaction; if that fails, each record is retried on
    its own so one bad record is logged and counted while the rest go on.
    """
    try:
        changed = _reject_by_default_set(application_ids, actor)
        return BatchResult(changed=len(changed), skipped=len(application_ids) - len(changed))
    except Exception:
        logger.exception("reject-by-default batch of %s failed; retrying one by one", len(application_ids))
    result = BatchResult()
    for application_id in application_ids:
        try:
            if _reject_by_default_set([application_id], actor):
                result.changed += 1
            else:
                result.skipped += 1
        except Exception:
            logger.exception("application %s could not be rejected by default", application_id)
            result.failed += 1
    return result
