"""An SMTP sink that enforces a provider's per-minute cap, as GOV.UK Notify or a relay would.

It accepts at most ``cap`` messages in any sliding 60 s and answers ``421 4.7.0`` to any
message over it (a temporary refusal: the service should back off). It records when each
message was accepted, with its Message-ID, and when each one was refused, so a run can
say how many it accepted in its busiest minute, how many it would have had to refuse, and
which emails came twice. aiosmtpd, in a thread of the bench process, on loopback.
"""

import bisect
import threading
import time
from collections import deque

from aiosmtpd.controller import Controller

WINDOW_SECONDS = 60.0


class CappedSink:
    def __init__(self, *, cap_per_minute: int):
        self.cap = cap_per_minute
        self.accepted: list[tuple[float, str]] = []  # (epoch seconds, Message-ID)
        self.refused: list[float] = []
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message_id = ""
        for line in envelope.content.decode(errors="replace").splitlines():
            if line.lower().startswith("message-id:"):
                message_id = line.split(":", 1)[1].strip()
                break
            if not line:
                break
        with self._lock:
            now = time.time()
            while self._recent and self._recent[0] <= now - WINDOW_SECONDS:
                self._recent.popleft()
            if len(self._recent) >= self.cap:
                self.refused.append(now)
                return "421 4.7.0 Rate limit exceeded: too many messages this minute, slow down"
            self._recent.append(now)
            self.accepted.append((now, message_id))
        return "250 OK"

    def times(self) -> list[float]:
        with self._lock:
            return sorted(at for at, _ in self.accepted)

    def attempts(self) -> list[float]:
        """Every message offered: accepted or refused."""
        with self._lock:
            return sorted([at for at, _ in self.accepted] + self.refused)


def busiest_window(times: list[float], seconds: float = WINDOW_SECONDS) -> int:
    """Most of ``times`` (sorted) inside any half-open window of ``seconds``."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def count_between(times: list[float], start: float, end: float) -> int:
    return bisect.bisect_right(times, end) - bisect.bisect_left(times, start)


class SinkServer:
    """The sink on a free loopback port while the ``with`` block runs."""

    def __init__(self, sink: CappedSink, port: int):
        self.controller = Controller(sink, hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
        return False
