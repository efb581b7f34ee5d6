"""Steady load for tests of memory bounds and backpressure against a real broker.

    with PacedWriter(AsyncMessageWriter(...), rate=2000, size=1024) as load:
        time.sleep(10)                    # the reader under test does nothing
    load.published, load.acknowledged, load.failed

:class:`PacedWriter` publishes numbered messages (the first 8 bytes of each value
are its number, big-endian) from a thread at a fixed rate, and counts the
acknowledgements; :func:`rss_bytes` is the resident memory of this process.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PacedWriter", "message_number", "rss_bytes"]


def rss_bytes() -> int:
    """Resident set size of the current process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def message_number(value: bytes) -> int:
    """The number :class:`PacedWriter` put in ``value``."""
    return int.from_bytes(value[:8], "big")


class PacedWriter:
    """Publish numbered ``size``-byte messages at ``rate`` per second until closed.

    ``writer`` is an open :class:`~sinetstream.AsyncMessageWriter` (its promises are
    counted as they settle, none is kept) or :class:`~sinetstream.MessageWriter`
    (a publish that returned counts as acknowledged). Writing stops after
    ``limit`` messages if given. ``close()`` (or leaving the ``with`` block) stops
    the thread and waits up to ``settle_s`` for outstanding acknowledgements.
    """

    def __init__(
        self, writer: Any, rate: float, size: int = 1024, limit: int | None = None
    ) -> None:
        self.rate, self.size, self.limit = rate, size, limit
        self.published = 0
        self.acknowledged = 0
        self.failed: list[int] = []
        self._writer = writer
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-writer", daemon=True)
        self._thread.start()

    def _acked(self, _receipt: Any) -> None:
        with self._lock:
            self.acknowledged += 1

    def _failed_for(self, seq: int) -> Any:
        def failed(_error: Exception) -> None:
            with self._lock:
                self.failed.append(seq)

        return failed

    def _run(self) -> None:
        payload = bytearray(self.size)
        start = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self.rate) + 1
            if self.limit is not None:
                due = min(due, self.limit)
            while self.published < due:
                seq = self.published
                payload[:8] = seq.to_bytes(8, "big")
                receipt = self._writer.publish(bytes(payload))
                if callable(getattr(receipt, "then", None)):
                    receipt.then(self._acked, self._failed_for(seq))
                else:
                    self._acked(receipt)
                self.published += 1
            if self.limit is not None and self.published >= self.limit:
                return
            self._stop.wait(max(0.0, start + (self.published + 1) / self.rate - time.monotonic()))

    def close(self, settle_s: float = 30.0) -> None:
        """Stop publishing; wait until every publish was acknowledged or failed."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + settle_s
        while self.acknowledged + len(self.failed) < self.published:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)

    def __enter__(self) -> PacedWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
