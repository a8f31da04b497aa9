"""Checks on job arguments: a bad argument is a clear, non-retryable error."""

import logging

from rq import get_current_job

logger = logging.getLogger(__name__)


class BadJobArguments(ValueError):
    """Raised before the job changes anything. The job is not retried: the same arguments
    would fail the same way. It ends in RQ's failed registry with this message."""

    def __init__(self, message: str):
        super().__init__(message)
        job = get_current_job()
        if job is not None:
            job.retries_left = 0  # the worker reads this when it handles the failure
        logger.error("bad job arguments, not retried: %s", message)


def id_list(value, *, name: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(type(v) is int and v > 0 for v in value):
        raise BadJobArguments(f"{name} must be a list of positive integer ids, got {value!r:.200}")
    return list(value)


def an_id(value, *, name: str) -> int:
    if type(value) is not int or value < 0:
        raise BadJobArguments(f"{name} must be a non-negative integer id, got {value!r:.200}")
    return value
