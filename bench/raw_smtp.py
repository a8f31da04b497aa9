"""The raw SMTP baseline of the spike: pre-rendered messages sent over one SMTP connection.

    python -m bench.raw_smtp FILE HOST PORT

FILE holds the messages as ``write_messages`` writes them (sender, recipients, bytes). It
sends every one with smtplib over a single connection and prints ``RAW_SMTP <messages>
<seconds>``. No Django, no database: what the SMTP path alone costs, for the spike to set
its delivery rate against (one of these per worker, in the same run, to the same sink).
"""

import json
import smtplib
import struct
import sys
import time
from pathlib import Path

_LENGTH = struct.Struct("!I")


def write_messages(path: Path, messages) -> int:
    """Write (from, [to...], message bytes) triples; returns how many."""
    count = 0
    with path.open("wb") as out:
        for sender, recipients, data in messages:
            envelope = json.dumps([sender, recipients]).encode()
            out.write(_LENGTH.pack(len(envelope)) + envelope + _LENGTH.pack(len(data)) + data)
            count += 1
    return count


def read_messages(path: Path):
    with path.open("rb") as source:
        while header := source.read(_LENGTH.size):
            envelope = json.loads(source.read(_LENGTH.unpack(header)[0]))
            (length,) = _LENGTH.unpack(source.read(_LENGTH.size))
            yield envelope[0], envelope[1], source.read(length)


def main(argv: list[str]) -> int:
    path, host, port = Path(argv[0]), argv[1], int(argv[2])
    messages = list(read_messages(path))  # read before the clock starts: only sending is timed
    started = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        for sender, recipients, data in messages:
            smtp.sendmail(sender, recipients, data)
    print(f"RAW_SMTP {len(messages)} {time.perf_counter() - started:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
