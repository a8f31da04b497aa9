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
