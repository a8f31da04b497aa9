"""Reads of applications, scoped to what a user may see."""

from django.db.models import Q, QuerySet
from django.db.models.functions import Now

from apps.applications.models import AWAITING_DECISION_STATES, Application, ApplicationState


def application_ids_due_for_rejection(*, limit: int) -> list[int]:
    """Ids past their reject-by-default deadline (database clock), oldest first; uses a partial index."""
    return list(
        Application.objects.filter(state__in=AWAITING_DECISION_STATES, reject_by_default_at__lte=Now())
        .order_by("reject_by_default_at")
        .values_list("pk", flat=True)[:limit]
    )


def applications_visible_to(user) -> QuerySet[Application]:
    """Support users see everything, provider users their provider's, candidates their own."""
    qs = Application.objects.select_related("course__provider", "candidate", "cycle")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    provider_user = getattr(user, "provider_user", None)
    if provider_user is not None:
        # Providers see applications once submitted, never a candidate's draft.
        return qs.filter(course__provider_id=provider_user.provider_id).exclude(state=ApplicationState.UNSUBMITTED)
    return qs.filter(candidate=user)


def application_list(*, user, state: str = "", query: str = "") -> QuerySet[Application]:
    qs = applications_visible_to(user)
    if state:
        qs = qs.filter(state=state)
    if query:
        qs = qs.filter(
            Q(candidate__username__icontains=query)
            | Q(candidate__email__icontains=query)
            | Q(course__name__icontains=query)
            | Q(course__code__iexact=query)
        )
    return qs.order_by("reject_by_default_at", "-pk")
