"""Keyset pages under a time budget: how a job walks a large set without nearing its timeout.

A sweep pages through what is due now, oldest first: a spike of 100,000 due is queued by
one run, not one page per tick, and what the budget leaves is the next tick's. A cycle-wide
fan-out (closing a cycle, recalculating its deadlines) can be hundreds of thousands of ids:
when its budget is spent it enqueues itself to continue after ``resume_after``.

The job calls its own selector in the loop; ``Pages`` only decides whether another page is
read (the last one was full and the budget lasts)::

    pages = Pages()
    for after in pages:
        due = pages.read(applications_due_for_rejection(limit=pages.size, after=after))
        ...
"""

import time

from django.conf import settings

#: A job pages for at most this long (jobs time out at 25 s, ``JOB_TIMEOUT``); anything left
#: goes to the next tick (a sweep) or a follow-up job (a fan-out).
BUDGET_SECONDS = 15


class Pages:
    """The cursors of consecutive keyset pages of ``size`` (``APPLY_SWEEP_LIMIT``), starting after ``after``.

    Iterating yields the cursor to read the next page after (``after``, then the last item of
    each page); each page read must be passed to ``read``. Iteration ends after a page shorter
    than ``size`` (nothing left), or after a full page once the budget is spent: then
    ``resume_after`` is where a follow-up would start.
    """

    def __init__(self, *, after=None):
        self.size = settings.APPLY_SWEEP_LIMIT
        self.after = after
        self.selected = 0
        self.resume_after = None
        self._deadline = time.monotonic() + BUDGET_SECONDS
        self._last_full = True
        self._read = False

    def __iter__(self):
        while True:
            self._read = False
            yield self.after
            if not self._read:
                raise RuntimeError("every page a Pages loop selects must be passed to Pages.read()")
            if not self._last_full:
                return
            if time.monotonic() > self._deadline:
                self.resume_after = self.after
                return

    def read(self, page: list) -> list:
        """Count the page, remember its last item as the next cursor; returns the page."""
        self._read = True
        self.selected += len(page)
        self._last_full = len(page) >= self.size
        if page:
            self.after = page[-1]
        return page
