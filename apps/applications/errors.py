class DomainError(Exception):
    """A business rule said no. The message is shown to the user as it is."""


class ApplicationNotFound(DomainError):
    def __init__(self, application_id):
        super().__init__(f"Application {application_id} does not exist or is not yours to act on.")


class TransitionNotAllowed(DomainError):
    def __init__(self, *, application_id, current_state, action):
        from apps.applications.models import ApplicationState

        label = ApplicationState(current_state).label.lower()
        super().__init__(f"Cannot {action} application {application_id}: it is now {label}.")
        self.current_state = current_state


class DeadlinePassed(DomainError):
    """An actor's transition after the live deadline: the rule binds at the instant it passes.

    The sweep records the by-default transition (within a minute or two); until then the
    application already counts as rejected or declined by default, and no one can act on it.
    """

    def __init__(self, *, application_id, current_state, deadline):
        from django.utils import timezone

        from apps.applications.models import ApplicationState
        from apps.applications.working_days import LONDON

        moment = timezone.localtime(deadline, LONDON)
        when = f"{moment.day} {moment:%B %Y} at {moment:%H:%M} {moment.tzname()}"
        if current_state == ApplicationState.OFFER:
            what = f"The deadline to answer the offer on application {application_id} passed on {when}"
            outcome = "the offer is declined by default"
        else:
            what = f"The provider's deadline to decide on application {application_id} passed on {when}"
            outcome = "the application is rejected by default"
        super().__init__(f"{what}: {outcome}. Nothing changed.")
        self.current_state = current_state
        self.deadline = deadline


def locked_or_refused(model, pk: int, what: str):
    """The row, locked until the transaction ends; a clear DomainError if it does not exist (a
    row deleted meanwhile must be an error, not one that ``save()`` quietly inserts again)."""
    row = model.objects.select_for_update().filter(pk=pk).first()
    if row is None:
        raise DomainError(f"{what} {pk} does not exist.")
    return row
