"""An in-process message broker: topics are bounded logs, readers keep cursors.

Every reader subscribed to a topic receives every message published to it,
in publish order. A message is kept until every current reader of its topic
has passed it (with manual acknowledgement: until the reader acknowledged
it); while a topic has no reader, up to ``maxsize`` messages wait for the next
one. A publish to a full topic blocks (backpressure) until the slowest reader
catches up, or fails after the publish timeout.

The lock is taken once per publish and once per *batch* on the reading side:
a reader takes up to :data:`BATCH` records at a time and hands them out one
by one without the lock. Its cursor (what it has passed) moves when it takes
the next batch, or whenever a full topic, a seek, an acknowledgement, a close
or :meth:`Broker.backlog` needs the exact position, so the rules above hold
message by message.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sinetstream.error import SinetError
from sinetstream.spi import PluginMessage

from ._subscription import Subscription

__all__ = ["BATCH", "LINGER_S", "Broker", "Record", "Subscription", "broker", "reset", "stored"]

#: Records a reader takes from a topic under one lock.
BATCH = 256
# A publisher blocked on a full topic looks again this often: a reader that
# passes messages without taking a new batch does not wake it.
_ROOM_POLL_S = 0.02
#: A reader that found messages on its last take and then none waits this long
#: for more without being woken per message: a writer whose codec releases the
#: GIL (zlib, AES) would otherwise hand the GIL to the reader, and back, once per
#: message. A reader that found none is idle and is woken by the next publish.
LINGER_S = 0.0005

_new_object = object.__new__
_new_message = bytes.__new__


@dataclass(frozen=True)
class Record:
    """One stored message: the ``raw`` object readers get with each message.

    ``value`` is a :class:`~sinetstream.spi.PluginMessage` (bytes carrying
    ``timestamp`` and ``headers``), so readers hand it to the core as it is.
    """

    topic: str
    offset: int
    value: bytes
    timestamp: int
    #: The headers the message was published with (``PluginMessage.headers``), if any;
    #: set on the record only then, so a message without headers costs nothing more.
    headers: ClassVar[Mapping[str, str] | None] = None


def stored(value: bytes) -> PluginMessage:
    """What the log keeps of ``value``: the writer's own PluginMessage as it is, else a copy.

    A copy keeps ``value``'s ``timestamp`` and ``headers`` attributes, if any.
    """
    if type(value) is PluginMessage:
        return value
    return _as_message(value, getattr(value, "timestamp", 0), getattr(value, "headers", None))


def _as_message(value: bytes, timestamp: int, headers: Mapping[str, str] | None) -> PluginMessage:
    if type(value) is PluginMessage and value.timestamp == timestamp and value.headers is headers:
        return value
    message: PluginMessage = _new_message(PluginMessage, value)  # one copy, as bytes(value)
    message.timestamp = timestamp
    if headers is not None:
        message.headers = headers
    return message


class QueueFullError(SinetError):
    """A publish waited longer than ``publish_timeout_ms`` for room in a full topic."""


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
        low = min(sub._holds(name) for sub in self.subs)
        if low <= self.base:
            return False
        was_full = self.retained() >= self.maxsize
        self.base = low
        drop = low - self.start
        if drop == len(self.log) or drop >= 1024 or 2 * drop >= len(self.log):
            del self.log[:drop]
            self.start = low
        return was_full and self.retained() < self.maxsize


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

    def _wake_publishers(self, t: _Topic) -> None:
        """Trim ``t``; wake waiting threads if that made room in it."""
        if t.trim() and self._waiting:
            self._cond.notify_all()

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
        self._wake_publishers(t)

    def publish(
        self,
        topic: str,
        value: bytes,
        timestamp: int = 0,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Record:
        """Append ``value`` to ``topic``, waiting up to ``timeout`` s while it is full."""
        return self._store(topic, _as_message(value, timestamp, headers), timeout)

    def _store(self, topic: str, message: PluginMessage, timeout: float | None) -> Record:
        """:meth:`publish` of a message as the log keeps it (see :func:`stored`)."""
        # Record(topic, offset, message, message.timestamp) without the frozen
        # dataclass's __init__ (four object.__setattr__ calls): the same object,
        # its fields written to its __dict__, at a third of the cost.
        record: Record = _new_object(Record)
        fields = record.__dict__
        headers = message.headers
        # acquire/release: half the instructions of ``with`` (nothing before the
        # try can raise)
        self._lock.acquire()
        try:
            t = self._topics.get(topic) or self._topic(topic)
            log = t.log
            if t.start + len(log) - t.base >= t.maxsize:
                self._wait_for_room(t, timeout)
            fields["topic"] = topic
            fields["offset"] = t.start + len(log)
            fields["value"] = message
            fields["timestamp"] = message.timestamp
            if headers is not None:
                fields["headers"] = headers
            log.append(record)
            if self._waiting > self._lingering:
                self._cond.notify_all()
        finally:
            self._lock.release()
        return record

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

    def try_publish(
        self,
        topic: str,
        value: bytes,
        timestamp: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> Record | None:
        """Append without waiting; ``None`` when the topic is full."""
        try:
            # no wait: stored if the topic has room once the readers are settled
            return self._store(topic, _as_message(value, timestamp, headers), 0.0)
        except QueueFullError:
            return None

    def subscribe(self, topics: Iterable[str], manual_ack: bool = False) -> Subscription:
        """Start reading ``topics`` from their oldest retained message.

        With ``manual_ack`` a message stays retained until the subscription
        acknowledges it (:meth:`Subscription.ack`), not just until it is read.
        """
        sub = Subscription(self, topics, manual_ack)
        with self._lock:
            for name in sub._topics:
                t = self._topic(name)
                sub._cursor[name] = t.base
                if sub._acked is not None:
                    sub._acked[name] = t.base
                t.subs[sub] = None
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub.closed:
                return
            sub.closed = True
            # What was handed out counts as read, and is trimmed while the
            # subscription still counts, as if read one by one (with manual ack,
            # only what it also acknowledged); the rest waits for other readers.
            sub._settle()
            sub._drop_batch()
            for name in sub._topics:
                t = self._topics.get(name)
                if t is not None:
                    t.trim()
                    t.subs.pop(sub, None)
                    t.trim()
            self._cond.notify_all()

    def _seek(self, sub: Subscription, to_end: bool) -> None:
        with self._lock:
            settled = sub._settle()
            if settled:
                self._topics[settled].trim()  # what was read is gone, as without batches
            sub._drop_batch()
            for name in sub._topics:
                t = self._topics[name]
                sub._cursor[name] = t.end if to_end else t.base
                if sub._acked is not None:
                    sub._acked[name] = sub._cursor[name]
                t.trim()
            self._cond.notify_all()

    def _ack(self, sub: Subscription, record: Record) -> None:
        with self._lock:
            acked = sub._acked
            t = self._topics.get(record.topic)
            if t is None or acked is None or sub.closed or record.topic not in acked:
                return
            acked[record.topic] = max(acked[record.topic], record.offset + 1)
            sub._settle()
            self._wake_publishers(t)

    def _take(self, sub: Subscription) -> Record | None:
        """Start the subscription's next batch; its first record, or None if none is waiting."""
        settled = sub._settle()
        if settled:
            self._wake_publishers(self._topics[settled])
        names = sub._topics
        n = len(names)
        for i in range(n):
            t = self._topics[names[(sub._next + i) % n]]
            pos = sub._cursor[t.name]
            if pos < t.start + len(t.log):
                at = pos - t.start
                sub._next = (sub._next + i + 1) % n
                sub._streaming = True
                return sub._start_batch(t.name, t.log[at : at + BATCH])
        sub._drop_batch()
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
