"""Jobs that misbehave, for the worker class tests (run by real worker processes)."""

import os
import time

_kept = []


def hang(seconds: float = 60) -> None:
    time.sleep(seconds)


def leak(megabytes: int = 64) -> int:
    _kept.append(bytearray(megabytes * 2**20))  # touched, so resident
    return os.getpid()


def pid() -> int:
    return os.getpid()
