"""Steady load, collecting readers and stalls, for tests against a real broker.

    with PacedWriter(AsyncMessageWriter(...), rate=2000, size=1024) as load:
        time.sleep(10)                    # the reader under test does nothing
    load.published, load.acknowledged, load.failed

:class:`PacedWriter` publishes numbered messages (the first 8 bytes of each value
are its number, big-endian) from a thread at a fixed rate, and counts the
acknowledgements; :class:`CollectingReader` iterates an open reader on a thread
and keeps what arrives; :func:`stall_then_catch_up` lets a reader stand still
under load and then drains it, watching this process's memory (:func:`rss_bytes`).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from sinetstream.error import SinetError

__all__ = [
    "CollectingReader",
    "PacedWriter",
    "Stall",
    "message_number",
    "rss_bytes",
    "stall_then_catch_up",
]


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


class CollectingReader:
    """Iterate an open sync reader on a thread, keeping ``parse(message.value)`` of each.

    A :class:`~sinetstream.SinetError` raised by the iteration (a refused reconnect, a
    broker away) is kept in ``errors`` and iteration goes on. The reader should
    have a short ``receive_timeout_ms`` so that :meth:`stop` is noticed quickly.
    """

    def __init__(self, reader: Any, parse: Callable[[Any], int] = int) -> None:
        self.values: list[int] = []
        self.errors: list[BaseException] = []
        self._reader, self._parse = reader, parse
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for message in self._reader:
                    self.values.append(self._parse(message.value))
                    if self._stop.is_set():
                        break
            except SinetError as exc:
                self.errors.append(exc)
                time.sleep(0.1)

    def wait_for(self, wanted: set[int], timeout: float) -> set[int]:
        """The numbers of ``wanted`` still missing after up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (missing := wanted - set(self.values)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return missing

    def stop(self) -> None:
        """Stop iterating; the reader stays open."""
        self._stop.set()
        self._thread.join(10)

    def close(self) -> None:
        """Stop iterating and close the reader (idempotent)."""
        self.stop()
        self._reader.close()


@dataclass
class Stall:
    """What :func:`stall_then_catch_up` saw."""

    published: int = 0
    published_while_stalled: int = 0
    failed: list[int] = field(default_factory=list)
    received: set[int] = field(default_factory=set)
    rss_growth: int = 0
    catch_up_s: float = 0.0

    @property
    def missing(self) -> set[int]:
        """The numbers published and never received."""
        return set(range(self.published)) - self.received


def stall_then_catch_up(
    reader: Any,
    writer: Any,
    rate: float,
    stall_s: float,
    *,
    watch: Callable[[], None] | None = None,
    size: int = 1024,
) -> Stall:
    """Publish through ``writer`` while the open ``reader`` is not iterated, then drain it.

    Samples this process's RSS four times a second during the stall (and calls
    ``watch()``, e.g. to check the reader's metrics); the growth over the RSS at
    the start is ``rss_growth``. Then the writer stops and ``reader`` is
    iterated until every published number arrived or its ``receive_timeout_ms``
    ended the iteration.
    """
    gc.collect()
    base = peak = rss_bytes()
    result = Stall()
    load = PacedWriter(writer, rate, size)
    deadline = time.monotonic() + stall_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        peak = max(peak, rss_bytes())
        if watch is not None:
            watch()
    result.published_while_stalled = load.published
    load.close()
    result.published, result.failed = load.published, load.failed
    started = time.monotonic()
    for message in reader:
        result.received.add(message_number(message.value))
        if len(result.received) == load.published:
            break
    result.catch_up_s = time.monotonic() - started
    result.rss_growth = peak - base
    return result
