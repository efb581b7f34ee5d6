"""An in-process message broker: topics are bounded logs, readers keep cursors.

Every reader subscribed to a topic receives every message published to it,
in publish order. A message is kept until every current reader of its topic
has passed it; while a topic has no reader, up to ``maxsize`` messages wait
for the next one. A publish to a full topic blocks (backpressure) until the
slowest reader catches up, or fails after the publish timeout.

The lock is taken once per publish and once per *batch* on the reading side:
a reader takes up to :data:`BATCH` records at a time and hands them out one
by one without the lock. Its cursor (what it has passed) moves when it takes
the next batch, or whenever a full topic, a seek, a close or :meth:`Broker.backlog`
needs the exact position, so the rules above hold message by message.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sinetstream.error import SinetError
from sinetstream.spi import PluginMessage

__all__ = ["BATCH", "LINGER_S", "Broker", "Record", "broker", "reset"]

#: Records a reader takes from a topic under one lock.
BATCH = 256
# A publisher blocked on a full topic looks again this often: a reader that
# passes messages without taking a new batch does not wake it.
_ROOM_POLL_S = 0.02
# A reader that found messages on its last take and then none waits this long
# for more without being woken per message: a writer whose codec releases the
# GIL (zlib, AES) would otherwise hand the GIL to the reader, and back, once per
# message. A reader that found none is idle and is woken by the next publish.
LINGER_S = 0.0005
_new_message = bytes.__new__


@dataclass(frozen=True)
class Record:
    """One stored message: the ``raw`` object readers get with each message.

    ``value`` is a :class:`~sinetstream.spi.PluginMessage` (bytes carrying
    ``timestamp``), so readers hand it to the core as it is.
    """

    topic: str
    offset: int
    value: bytes
    timestamp: int


_new_object = object.__new__


def _record(topic: str, offset: int, value: bytes, timestamp: int) -> Record:
    """``Record(topic, offset, value, timestamp)``, without the frozen dataclass's
    ``__init__`` (four ``object.__setattr__`` calls): the same object, with its
    fields written to its ``__dict__``, at half the cost."""
    record: Record = _new_object(Record)
    fields = record.__dict__
    fields["topic"] = topic
    fields["offset"] = offset
    fields["value"] = value
    fields["timestamp"] = timestamp
    return record


class QueueFullError(SinetError):
    """A publish waited longer than ``publish_timeout_ms`` for room in a full topic."""


def _as_message(value: bytes, timestamp: int) -> PluginMessage:
    if type(value) is PluginMessage and value.timestamp == timestamp:
        return value
    message: PluginMessage = _new_message(PluginMessage, value)  # one copy, as bytes(value)
    message.timestamp = timestamp
    return message


class _Topic:
    """A topic's log: ``log[i]`` has offset ``start + i``; offsets below ``base`` are gone."""

    __slots__ = ("base", "log", "maxsize", "name", "start", "subs")

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self.log: list[Record] = []
        self.start = 0  # offset of log[0]
        self.base = 0  # oldest retained offset (log[: base - start] awaits compaction)
        self.subs: dict[Subscription, None] = {}  # readers, in subscription order

    @property
    def end(self) -> int:
        return self.start + len(self.log)

    def retained(self) -> int:
        return self.start + len(self.log) - self.base

    def trim(self) -> bool:
        """Drop what every reader has passed; True when that made room in a full topic."""
        if not self.subs:
            return False
        name = self.name
        low = min(sub._cursor[name] for sub in self.subs)
        if low <= self.base:
            return False
        was_full = self.retained() >= self.maxsize
        self.base = low
        drop = low - self.start
        if drop == len(self.log) or drop >= 1024 or 2 * drop >= len(self.log):
            del self.log[:drop]
            self.start = low
        return was_full and self.retained() < self.maxsize


class _Batch:
    """Records taken from one topic; ``next`` of them were handed out, ``passed`` counted."""

    __slots__ = ("next", "passed", "records", "size", "topic")

    def __init__(self, topic: str, records: list[Record]) -> None:
        self.topic = topic
        self.records = records
        self.size = len(records)
        self.next = 0  # moved by the reading thread alone, without the lock
        self.passed = 0  # moved under the lock


_NO_BATCH = _Batch("", [])


class Subscription:
    """A reader's cursors over one or more topics of a :class:`Broker`."""

    def __init__(self, broker: Broker, topics: Iterable[str]) -> None:
        self._broker = broker
        self._topics = list(dict.fromkeys(topics))
        self._cursor: dict[str, int] = {}  # topic -> next offset not yet passed
        self._batch = _NO_BATCH
        self._next = 0  # round-robin start, so one busy topic cannot starve another
        self._streaming = False  # its last take found a record: it lingers before waiting
        self.closed = False

    @property
    def topics(self) -> list[str]:
        """The subscribed topic names."""
        return list(self._topics)

    def get(self, timeout: float | None) -> Record | None:
        """The next record on any subscribed topic; ``None`` after ``timeout`` seconds."""
        batch = self._batch
        i = batch.next
        if i < batch.size:
            batch.next = i + 1
            return batch.records[i]
        return self._broker._get(self, timeout)

    def seek(self, to_end: bool) -> None:
        """Move every cursor to the oldest retained record, or past the newest."""
        self._broker._seek(self, to_end)

    def close(self) -> None:
        """Stop reading; the subscription's cursors no longer hold messages back."""
        self._broker._unsubscribe(self)

    def _settle(self) -> str:
        """Move the cursor past the records handed out so far (under the broker's lock)."""
        batch = self._batch
        handed = min(batch.next, batch.size)
        if handed > batch.passed:
            self._cursor[batch.topic] += handed - batch.passed
            batch.passed = handed
        return batch.topic


class Broker:
    """An in-process broker; ``sinetstream_queue.broker(name)`` gives named ones.

    ``maxsize`` bounds every topic's log (messages not yet read by all readers).
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0  # threads in _cond.wait(): notify only when there are some
        self._lingering = 0  # of which readers lingering, which a publish does not wake
        self._topics: dict[str, _Topic] = {}

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name, self.maxsize)
        return topic

    def _wait(self, timeout: float | None) -> None:
        self._waiting += 1
        try:
            self._cond.wait(timeout)
        finally:
            self._waiting -= 1

    def _linger(self, timeout: float) -> None:
        self._lingering += 1
        try:
            self._wait(timeout)
        finally:
            self._lingering -= 1

    def topics(self) -> list[str]:
        """Names of the topics that exist so far."""
        with self._lock:
            return sorted(self._topics)

    def backlog(self, topic: str) -> int:
        """How many messages ``topic`` currently retains."""
        with self._lock:
            t = self._topics.get(topic)
            if t is None:
                return 0
            self._settle_readers(t)
            return t.retained()

    def _settle_readers(self, t: _Topic) -> None:
        for sub in t.subs:
            sub._settle()
        if t.trim() and self._waiting:
            self._cond.notify_all()

    def _append(self, t: _Topic, value: bytes, timestamp: int) -> Record:
        record = _record(t.name, t.start + len(t.log), _as_message(value, timestamp), timestamp)
        t.log.append(record)
        if self._waiting > self._lingering:
            self._cond.notify_all()
        return record

    def publish(
        self, topic: str, value: bytes, timestamp: int = 0, timeout: float | None = None
    ) -> Record:
        """Append ``value`` to ``topic``, waiting up to ``timeout`` s while it is full."""
        # acquire/release: half the instructions of ``with`` (the body cannot raise
        # before the try)
        self._lock.acquire()
        try:
            t = self._topics.get(topic) or self._topic(topic)
            if t.start + len(t.log) - t.base >= t.maxsize:
                self._wait_for_room(t, timeout)
            return self._append(t, value, timestamp)
        finally:
            self._lock.release()

    def _wait_for_room(self, t: _Topic, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._settle_readers(t)
            if t.retained() < t.maxsize:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise QueueFullError(
                    f"queue topic {t.name!r} is full ({t.maxsize} unread messages) and no "
                    "reader made room in time; read faster, raise type_spec.maxsize or "
                    "type_spec.publish_timeout_ms"
                )
            self._wait(_ROOM_POLL_S if remaining is None else min(remaining, _ROOM_POLL_S))

    def try_publish(self, topic: str, value: bytes, timestamp: int = 0) -> Record | None:
        """Append without waiting; ``None`` when the topic is full."""
        with self._lock:
            t = self._topics.get(topic) or self._topic(topic)
            if t.retained() >= t.maxsize:
                self._settle_readers(t)
                if t.retained() >= t.maxsize:
                    return None
            return self._append(t, value, timestamp)

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        """Start reading ``topics`` from their oldest retained message."""
        sub = Subscription(self, topics)
        with self._lock:
            for name in sub._topics:
                t = self._topic(name)
                sub._cursor[name] = t.base
                t.subs[sub] = None
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub.closed:
                return
            sub.closed = True
            sub._settle()  # what was handed out is passed; the rest waits for others
            sub._batch = _NO_BATCH
            for name in sub._topics:
                t = self._topics.get(name)
                if t is not None:
                    t.subs.pop(sub, None)
                    t.trim()
            self._cond.notify_all()

    def _seek(self, sub: Subscription, to_end: bool) -> None:
        with self._lock:
            settled = sub._settle()
            if settled:
                self._topics[settled].trim()  # what was read is gone, as without batches
            sub._batch = _NO_BATCH
            for name in sub._topics:
                t = self._topics[name]
                sub._cursor[name] = t.end if to_end else t.base
                t.trim()
            self._cond.notify_all()

    def _take(self, sub: Subscription) -> Record | None:
        """Start the subscription's next batch; its first record, or None if none is waiting."""
        settled = sub._settle()
        if settled and self._topics[settled].trim() and self._waiting:
            self._cond.notify_all()  # a publisher waits for the room just made
        names = sub._topics
        n = len(names)
        for i in range(n):
            t = self._topics[names[(sub._next + i) % n]]
            pos = sub._cursor[t.name]
            if pos < t.start + len(t.log):
                at = pos - t.start
                batch = _Batch(t.name, t.log[at : at + BATCH])
                batch.next = 1
                sub._batch = batch
                sub._next = (sub._next + i + 1) % n
                sub._streaming = True
                return batch.records[0]
        sub._batch = _NO_BATCH
        return None

    def _get(self, sub: Subscription, timeout: float | None) -> Record | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if sub.closed:
                    return None
                record = self._take(sub)
                if record is not None:
                    return record
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if sub._streaming:
                    sub._streaming = False
                    self._linger(LINGER_S if remaining is None else min(remaining, LINGER_S))
                else:
                    self._wait(remaining)

    def wake_all(self) -> None:
        """Wake every waiting reader (used when one closes)."""
        with self._lock:
            self._cond.notify_all()


_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()


def broker(name: str = "default", maxsize: int | None = None) -> Broker:
    """The process-wide broker called ``name``, created on first use."""
    with _brokers_lock:
        b = _brokers.get(name)
        if b is None:
            b = _brokers[name] = Broker(maxsize or 10_000)
        return b


def reset(name: str | None = None) -> None:
    """Forget one named broker (or all): later readers and writers start empty.

    Meant for test isolation; readers and writers already open keep the old one.
    """
    with _brokers_lock:
        if name is None:
            _brokers.clear()
        else:
            _brokers.pop(name, None)


def timeout_seconds(ms: Any) -> float | None:
    """Milliseconds (``inf`` = forever) to seconds (``None`` = forever)."""
    if ms is None or (isinstance(ms, float) and math.isinf(ms)):
        return None
    return max(0.0, float(ms) / 1000)
