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


#: The largest id a table holds: ids are bigints (signed 64-bit in PostgreSQL and SQLite).
#: A larger one failed inside the job, as a database error retried to no avail.
MAX_ID = 2**63 - 1


def _in_range(value, *, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_ID  # type(): True is not an id


def id_list(value, *, name: str) -> list[int]:
    """A list of record ids, each from 1 to ``MAX_ID``."""
    if not isinstance(value, (list, tuple)) or not all(type(v) is int and v > 0 for v in value):
        raise BadJobArguments(f"{name} must be a list of positive integer ids, got {value!r:.200}")
    if not all(_in_range(v, minimum=1) for v in value):
        raise BadJobArguments(f"{name} must be ids no larger than {MAX_ID} (a bigint), got {value!r:.200}")
    return list(value)


def an_id(value, *, name: str) -> int:
    """A record id, from 1 to ``MAX_ID``."""
    if not _in_range(value, minimum=1):
        raise BadJobArguments(f"{name} must be an integer id from 1 to {MAX_ID}, got {value!r:.200}")
    return value


def an_id_after(value, *, name: str) -> int:
    """A keyset cursor: the id a page starts after, 0 for the first page."""
    if not _in_range(value, minimum=0):
        raise BadJobArguments(f"{name} must be an integer id from 0 (the first page) to {MAX_ID}, got {value!r:.200}")
    return value
