"""The bridge's in-flight window: bounded, acknowledged on the source in order.

Every message read from the source enters the window; it leaves when the
destination has acknowledged it *and* every message read before it has left.
That is when the source is told (``ack(raw)``): a source acknowledgement
always covers a prefix of what was read, so a crash at any time loses nothing
and redelivers only what was not acknowledged yet.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sinetstream.spi import PluginMessage

__all__ = ["BridgeMetrics", "Entry", "Window"]


@dataclass
class BridgeMetrics:
    """Counters of a :class:`~sinetstream.Bridge` (a snapshot from ``Bridge.metrics``).

    ``received``: messages read from the source; ``forwarded``: messages the
    destination acknowledged; ``acknowledged``: messages acknowledged on the
    source; ``in_flight``: read and not yet acknowledged on the source;
    ``retried``: publishes repeated after the destination failed them;
    ``duplicates_suspected``: messages the source marked as redelivered (MQTT
    DUP), which the destination may have seen already; ``skipped_invalid``:
    undecodable messages skipped (``on_invalid_message: skip``); ``lag_s``:
    age of the oldest message in flight, in seconds; ``elapsed_s``: time since
    ``run()`` started.
    """

    received: int = 0
    forwarded: int = 0
    acknowledged: int = 0
    in_flight: int = 0
    retried: int = 0
    duplicates_suspected: int = 0
    skipped_invalid: int = 0
    lag_s: float = 0.0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class Entry:
    """One message in flight: what to publish where, and its source ``raw``."""

    __slots__ = ("dest", "done", "key", "message", "raw", "read_at")

    def __init__(self, message: PluginMessage, dest: str, key: Any, raw: Any) -> None:
        self.message = message
        self.dest = dest
        self.key = key
        self.raw = raw
        self.done = False
        self.read_at = time.monotonic()


class Window:
    """At most ``limit`` entries; ``source_ack(raw)`` is called in read order."""

    def __init__(self, limit: int, source_ack: Callable[[Any], None]) -> None:
        self.limit = limit
        self._source_ack = source_ack
        self._entries: deque[Entry] = deque()
        self._cond = threading.Condition()
        self.forwarded = 0
        self.acknowledged = 0
        self.ack_error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def oldest_age(self) -> float:
        """Seconds since the oldest entry in flight was read (0 when empty)."""
        entries = self._entries
        try:
            return time.monotonic() - entries[0].read_at
        except IndexError:
            return 0.0

    def wait_for_room(self, timeout: float) -> bool:
        """Wait until an entry may be added; False after ``timeout`` seconds."""
        with self._cond:
            if len(self._entries) < self.limit:
                return True
            return self._cond.wait_for(lambda: len(self._entries) < self.limit, timeout)

    def add(self, entry: Entry) -> None:
        """Put a message read from the source in flight (reading thread)."""
        with self._cond:
            self._entries.append(entry)

    def forwarded_one(self, entry: Entry, forwarded: bool = True) -> None:
        """The destination acknowledged ``entry``: acknowledge the finished prefix.

        ``forwarded=False``: the entry is done without being forwarded (skipped).
        """
        with self._cond:
            entry.done = True
            self.forwarded += forwarded
            entries = self._entries
            if not entries[0].done:
                return
            ack = self._source_ack
            try:
                while entries and entries[0].done:
                    ack(entries[0].raw)
                    entries.popleft()
                    self.acknowledged += 1
            except BaseException as exc:  # reported by the bridge, which stops
                self.ack_error = exc
            self._cond.notify_all()

    def wait_empty(self, timeout: float) -> bool:
        """Wait until everything in flight was acknowledged; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._entries, timeout)
