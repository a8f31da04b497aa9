"""Housekeeping jobs."""

from django.core.management import call_command


def sessions_clear_expired() -> None:
    """Daily: delete expired sessions (Django's clearsessions)."""
    call_command("clearsessions")
