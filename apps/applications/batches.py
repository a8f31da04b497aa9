"""Running a set-based write over a batch of ids, isolating records when the batch fails."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    changed: int = 0
    skipped: int = 0
    failed: int = 0


def batch_run_isolated(process: Callable[[list[int]], int], ids: list[int], *, what: str) -> BatchResult:
    """Run ``process(ids)`` (one transaction, returns how many records it changed).

    If the batch fails, each record is retried on its own so one bad record is logged and
    counted while the rest go on.
    """
    try:
        changed = process(ids)
        return BatchResult(changed=changed, skipped=len(ids) - changed)
    except Exception:
        logger.exception("%s: batch of %s failed; retrying one by one", what, len(ids))
    result = BatchResult()
    for pk in ids:
        try:
            if process([pk]):
                result.changed += 1
            else:
                result.skipped += 1
        except Exception:
            logger.exception("%s: application %s failed", what, pk)
            result.failed += 1
    return result
