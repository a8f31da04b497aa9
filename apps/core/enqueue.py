"""Enqueue jobs so that they reach Redis only if the surrounding transaction commits.

django-rq's commit mode covers ``enqueue()`` only and lets a Redis error escape from the
on-commit hook, turning an already committed request into a 500. Here every enqueue path
(now, in N seconds, at a time, many at once) is deferred to ``transaction.on_commit`` and
a Redis failure after commit is logged, not raised: the sweeps are the safety net that
finish the work later.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from redis.exceptions import RedisError

from apps.core.redis import rq_queue_named

logger = logging.getLogger(__name__)


def _run_after_commit(describe: str, fn) -> None:
    def send():
        try:
            fn()
        except RedisError:
            logger.exception("enqueue after commit failed; the next sweep will pick the work up: %s", describe)

    transaction.on_commit(send, robust=True)


def enqueue_on_commit(queue: str, func: str, *args, job_id: str | None = None, **options) -> None:
    _run_after_commit(
        func, lambda: rq_queue_named(queue).enqueue_call(func, args=args, job_id=job_id, **options)
    )


def enqueue_in_on_commit(queue: str, delay: timedelta, func: str, *args, **options) -> None:
    _run_after_commit(func, lambda: rq_queue_named(queue).enqueue_in(delay, func, *args, **options))


def enqueue_at_on_commit(queue: str, when: datetime, func: str, *args, **options) -> None:
    _run_after_commit(func, lambda: rq_queue_named(queue).enqueue_at(when, func, *args, **options))


def enqueue_many_on_commit(queue: str, func: str, arg_lists: list[tuple], **options) -> None:
    def send():
        rq_queue = rq_queue_named(queue)
        rq_queue.enqueue_many([rq_queue.prepare_data(func, args=args, **options) for args in arg_lists])

    _run_after_commit(f"{func} x{len(arg_lists)}", send)
