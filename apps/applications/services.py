"""Writes to applications, and to the providers and courses they are made to: one function per use case.

Every transition is a compare-and-set: the row is locked (PostgreSQL) or the write lock
is held (SQLite, immediate transactions) and the update re-checks the state, so a
retried, duplicated or concurrent call changes nothing twice. The timeline event and the
outbox emails are written in the same transaction as the state change.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, BooleanField, CharField, ExpressionWrapper, F, ProtectedError, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, JSONArray, JSONObject, Now, NullIf, Trim

from apps.applications.actors import Actor
from apps.applications.batches import BatchResult, batch_run_isolated
from apps.applications.calendars import calendar_for_cycle
from apps.applications.errors import (
    ApplicationNotFound,
    DeadlinePassed,
    DomainError,
    TransitionNotAllowed,
    locked_or_refused,
)
from apps.applications.models import Application, ApplicationEvent, Course, Provider, ProviderUser
from apps.applications.rules import (
    DEADLINE_OF_STATE,
    ACCEPT_OFFER,
    CONDITIONS_NOT_MET,
    CONFIRM_RECRUITED,
    DBD_DEADLINE,
    DECLINE_BY_DEFAULT,
    DECLINE_OFFER,
    INTERVIEW,
    MAKE_OFFER,
    RBD_DEADLINE,
    REJECT,
    REJECT_BY_DEFAULT,
    SUBMIT,
    WITHDRAW,
    WITHDRAW_OFFER,
    TimedRule,
    Transition,
)
from apps.core.sql import insert_from_select
from apps.outbox.services import Email, outbox_emails_add, outbox_emails_insert

logger = logging.getLogger(__name__)


def deadline_clock():
    """The instant an actor's transition is checked against the live deadline: the database's clock.

    One clock for every web host and worker, read in the statement that makes the change:
    actors' transitions and the by-default rules (``_timed_set``) compare with it alike.
    Tests of the boundary replace this function to travel to 23:59:59.999999; nothing
    else does.
    """
    return Now()


def _locked(application_id: int) -> Application:
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("cycle", "course__provider", "candidate")
        .filter(pk=application_id)
        .annotate(deadline_passed=ExpressionWrapper(Q(deadline_at__lte=deadline_clock()), output_field=BooleanField()))
        .first()
    )
    if application is None:
        raise ApplicationNotFound(application_id)
    return application


def _transition(
    *,
    application_id: int,
    transition: Transition,
    actor: Actor,
    updates: dict | None = None,
    detail: dict | None = None,
) -> Application:
    """Lock, check, update (re-checking the state and the deadline), record the event. Call inside a transaction.

    ``transition`` (``rules.py``) says from which states and to which one; its name is the
    event's kind. A state that carries a live deadline (``rules.LIVE_DEADLINES``) can be left by an actor only
    before that deadline: at and after it the application belongs to the by-default rule,
    whether or not the sweep has run yet (the rule's ``deadline <= deadline_clock()`` is the
    same instant, so no moment exists where both or neither may act).
    """
    allowed_from, to_state, action = transition.from_states, transition.to_state, transition.name
    application = _locked(application_id)
    if application.state not in allowed_from:
        raise TransitionNotAllowed(application_id=application_id, current_state=application.state, action=action)
    if application.deadline_passed:
        raise DeadlinePassed(
            application_id=application_id, current_state=application.state, deadline=application.deadline_at
        )
    changed = (
        Application.objects.filter(pk=application.pk, state=application.state)
        .filter(Q(deadline_at__isnull=True) | Q(deadline_at__gt=deadline_clock()))
        .update(state=to_state, updated_at=Now(), **(updates or {}))
    )
    if changed != 1:  # lost a race on a backend without row locks, or the deadline passed meanwhile
        application = _locked(application_id)
        if application.state in allowed_from and application.deadline_passed:
            raise DeadlinePassed(
                application_id=application_id, current_state=application.state, deadline=application.deadline_at
            )
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


def provider_create(*, code: str, name: str, email: str) -> Provider:
    provider = Provider(code=code, name=name, email=email)
    provider.full_clean()
    provider.save()
    return provider


def provider_update(*, provider_id: int, code: str, name: str, email: str) -> Provider:
    """Change a provider's code, name or email (emails already in the outbox keep the old address)."""
    with transaction.atomic():
        provider = locked_or_refused(Provider, provider_id, "Provider")
        provider.code, provider.name, provider.email = code, name, email
        provider.full_clean()
        provider.save()
    return provider


def provider_delete(*, provider_id: int) -> None:
    """Delete a provider with its courses and its users' memberships; refused while it has applications."""
    with transaction.atomic():
        _delete_unless_it_has_applications(locked_or_refused(Provider, provider_id, "Provider"))


def provider_user_add(*, user_id: int, provider_id: int) -> ProviderUser:
    """Make a user one of the provider's users (a user belongs to one provider at most)."""
    membership = ProviderUser(user_id=user_id, provider_id=provider_id)
    membership.full_clean()
    membership.save()
    return membership


def provider_user_update(*, provider_user_id: int, user_id: int, provider_id: int) -> ProviderUser:
    """Point a membership at another user or another provider (the user then acts for that provider)."""
    with transaction.atomic():
        membership = locked_or_refused(ProviderUser, provider_user_id, "Provider user")
        membership.user_id, membership.provider_id = user_id, provider_id
        membership.full_clean()
        membership.save()
    return membership


def provider_user_remove(*, provider_user_id: int) -> None:
    """End a user's membership of their provider; the user stays, with no provider to act for."""
    deleted, _ = ProviderUser.objects.filter(pk=provider_user_id).delete()
    if not deleted:
        raise DomainError(f"Provider user {provider_user_id} does not exist.")


def course_create(*, provider_id: int, code: str, name: str) -> Course:
    course = Course(provider_id=provider_id, code=code, name=name)
    course.full_clean()
    course.save()
    return course


def course_update(*, course_id: int, provider_id: int, code: str, name: str) -> Course:
    """Change a course's code or name. ``provider_id`` is the course's own provider, checked:
    applications copy their course's provider (``Application.provider``), so a course never moves."""
    with transaction.atomic():
        course = locked_or_refused(Course, course_id, "Course")
        if course.provider_id != provider_id:
            raise DomainError(
                f"Course {course_id} belongs to provider {course.provider_id}: a course never moves to another "
                "provider (its applications keep the provider they were made with)."
            )
        course.code, course.name = code, name
        course.full_clean()
        course.save()
    return course


def course_delete(*, course_id: int) -> None:
    """Delete a course; refused while it has applications."""
    with transaction.atomic():
        _delete_unless_it_has_applications(locked_or_refused(Course, course_id, "Course"))


def _delete_unless_it_has_applications(row: Provider | Course) -> None:
    try:
        row.delete()
    except ProtectedError:  # raised while collecting the rows to delete, before any is deleted
        raise DomainError(f"{row} has applications: it cannot be deleted.") from None


def application_create(*, candidate_id: int, course_id: int, cycle_id: int) -> Application:
    """A candidate's draft (unsubmitted) application to a course in a cycle; the provider is the course's."""
    return Application.objects.create(candidate_id=candidate_id, course_id=course_id, cycle_id=cycle_id)


def application_deadline_set_for_demo(*, application_id: int, deadline: datetime) -> Application:
    """Demo data only: move the live deadline the application's state carries to ``deadline``.

    Recorded on the timeline (``demo_deadline_moved``), so nobody mistakes it for the rule's
    own deadline. Refused in a state without a live deadline.
    """
    with transaction.atomic():
        application = _locked(application_id)
        live = DEADLINE_OF_STATE.get(application.state)
        if live is None:
            raise DomainError(f"Application {application_id} is {application.state}: it has no live deadline to move.")
        Application.objects.filter(pk=application.pk, state=application.state).update(
            **{live.field: deadline}, updated_at=Now()
        )
        ApplicationEvent.objects.create(
            application=application,
            kind="demo_deadline_moved",
            from_state=application.state,
            to_state=application.state,
            detail={live.field: deadline.isoformat(), "why": "demo data: due in the next minutes"},
        )
    application.refresh_from_db()
    return application


def application_history_backdate_for_demo(*, application_id: int, started_at: datetime, event_times: dict[str, datetime]) -> None:
    """Demo data only: date the application's start and its timeline's events as its story
    says (``event_times``: an event kind, e.g. "submit", and when it happened), so the page's
    "Started" and "Submitted" agree with its history. Events not named keep their time."""
    with transaction.atomic():
        _locked(application_id)
        Application.objects.filter(pk=application_id).update(created_at=started_at)
        for kind, moment in event_times.items():
            ApplicationEvent.objects.filter(application_id=application_id, kind=kind).update(created_at=moment)


def application_submit(*, application_id: int, actor: Actor, now: datetime) -> Application:
    """The candidate submits: the provider now has N working days to decide."""
    with transaction.atomic():
        application = _locked(application_id)
        cycle = application.cycle
        if now > cycle.apply_deadline:
            raise DomainError(f"The {cycle} closed to new applications on {cycle.apply_deadline:%d %B %Y}.")
        deadline = RBD_DEADLINE.at(start=now, calendar=calendar_for_cycle(cycle), cap=cycle.reject_by_default_date)
        application = _transition(
            application_id=application_id,
            transition=SUBMIT,
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
            transition=INTERVIEW,
            actor=actor,
        )


def application_reject(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            transition=REJECT,
            actor=actor,
            updates={"decided_at": Now()},
        )


def application_withdraw(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(
            application_id=application_id,
            transition=WITHDRAW,
            actor=actor,
            updates={"decided_at": Now()},
        )


def application_make_offer(*, application_id: int, actor: Actor, now: datetime) -> Application:
    """The provider offers a place: the candidate has N working days to answer."""
    with transaction.atomic():
        application = _locked(application_id)
        deadline = DBD_DEADLINE.at(start=now, calendar=calendar_for_cycle(application.cycle))
        application = _transition(
            application_id=application_id,
            transition=MAKE_OFFER,
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
        return _transition(application_id=application_id, transition=ACCEPT_OFFER, actor=actor)


def application_decline_offer(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(application_id=application_id, transition=DECLINE_OFFER, actor=actor)


def application_withdraw_offer(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(application_id=application_id, transition=WITHDRAW_OFFER, actor=actor)


def application_confirm_recruited(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(application_id=application_id, transition=CONFIRM_RECRUITED, actor=actor)


def application_conditions_not_met(*, application_id: int, actor: Actor) -> Application:
    with transaction.atomic():
        return _transition(application_id=application_id, transition=CONDITIONS_NOT_MET, actor=actor)


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


def _timed_set(rule: TimedRule, application_ids: list[int], actor: Actor) -> list[int]:
    """Apply ``rule`` to the due ones among ``application_ids`` in one transaction; return the changed ids.

    Due is decided by the database's clock (``deadline_clock()``) inside the locked read and re-checked by
    the update, whichever host runs the job. Rows locked by a concurrent job are skipped:
    that job handles them, or the next sweep does if it rolls back.

    Set-based: a handful of statements per batch whatever its size. The timeline events
    are copied from the locked rows (their state before the change) and the outbox emails
    from the changed rows, each in one ``INSERT ... SELECT``; the emails are rendered at
    delivery, outside this transaction.
    """
    due_filter = {"state__in": rule.from_states, f"{rule.deadline_field}__lte": deadline_clock()}
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
