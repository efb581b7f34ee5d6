"""An in-process message broker: topics are bounded logs, readers keep cursors.

Every reader subscribed to a topic receives every message published to it,
in publish order. A message is kept until every current reader of its topic
has passed it; while a topic has no reader, up to ``maxsize`` messages wait
for the next one. A publish to a full topic blocks (backpressure) until the
slowest reader catches up, or fails after the publish timeout.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sinetstream.error import SinetError

__all__ = ["Broker", "Record", "broker", "reset"]


@dataclass(frozen=True)
class Record:
    """One stored message: the ``raw`` object readers get with each message."""

    topic: str
    offset: int
    value: bytes
    timestamp: int
    #: The headers the message was published with (``PluginMessage.headers``), if any;
    #: set on the record only then, so a message without headers costs nothing more.
    headers: ClassVar[Mapping[str, str] | None] = None


class QueueFullError(SinetError):
    """A publish waited longer than ``publish_timeout_ms`` for room in a full topic."""


class _Topic:
    __slots__ = ("acked", "base", "log", "maxsize", "name", "readers")

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self.log: deque[Record] = deque()
        self.base = 0  # offset of log[0]
        self.readers: dict[int, int] = {}  # subscription id -> next offset to read
        # Subscriptions with manual acknowledgement: id -> first offset not acknowledged.
        self.acked: dict[int, int] = {}

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def trim(self) -> None:
        if not self.readers:
            return
        low = min(self.readers.values())
        if self.acked:
            low = min(low, *self.acked.values())
        while self.log and self.base < low:
            self.log.popleft()
            self.base += 1

    def full(self) -> bool:
        return len(self.log) >= self.maxsize


class Subscription:
    """A reader's cursors over one or more topics of a :class:`Broker`."""

    def __init__(self, broker: Broker, topics: Iterable[str], manual_ack: bool = False) -> None:
        self._broker = broker
        self._topics = list(dict.fromkeys(topics))
        self._next = 0  # round-robin start, so one busy topic cannot starve another
        self.closed = False
        self.manual_ack = manual_ack

    @property
    def topics(self) -> list[str]:
        """The subscribed topic names."""
        return list(self._topics)

    def get(self, timeout: float | None) -> Record | None:
        """The next record on any subscribed topic; ``None`` after ``timeout`` seconds."""
        return self._broker._get(self, timeout)

    def seek(self, to_end: bool) -> None:
        """Move every cursor to the oldest retained record, or past the newest."""
        self._broker._seek(self, to_end)

    def ack(self, record: Record) -> None:
        """Manual acknowledgement: ``record`` and every earlier one of its topic are done."""
        self._broker._ack(self, record)

    def close(self) -> None:
        """Stop reading; the subscription's cursors no longer hold messages back.

        With manual acknowledgement, messages not acknowledged stay in the topic
        for the next subscriber when no other reader has passed them.
        """
        self._broker._unsubscribe(self)


class Broker:
    """An in-process broker; ``sinetstream_queue.broker(name)`` gives named ones.

    ``maxsize`` bounds every topic's log (messages not yet read by all readers).
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._cond = threading.Condition(threading.Lock())
        self._topics: dict[str, _Topic] = {}

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name, self.maxsize)
        return topic

    def topics(self) -> list[str]:
        """Names of the topics that exist so far."""
        with self._cond:
            return sorted(self._topics)

    def backlog(self, topic: str) -> int:
        """How many messages ``topic`` currently retains."""
        with self._cond:
            t = self._topics.get(topic)
            return len(t.log) if t is not None else 0

    def publish(
        self,
        topic: str,
        value: bytes,
        timestamp: int = 0,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Record:
        """Append ``value`` to ``topic``, waiting up to ``timeout`` s while it is full."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            t = self._topic(topic)
            while t.full():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError(
                        f"queue topic {topic!r} is full ({t.maxsize} unread messages) and no "
                        "reader made room in time; read faster, raise type_spec.maxsize or "
                        "type_spec.publish_timeout_ms"
                    )
                self._cond.wait(remaining)
            record = Record(topic, t.end, bytes(value), timestamp)
            if headers is not None:  # frozen: set as a __post_init__ would
                object.__setattr__(record, "headers", headers)
            t.log.append(record)
            self._cond.notify_all()
            return record

    def try_publish(
        self,
        topic: str,
        value: bytes,
        timestamp: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> Record | None:
        """Append without waiting; ``None`` when the topic is full."""
        with self._cond:
            t = self._topic(topic)
            if t.full():
                return None
            record = Record(topic, t.end, bytes(value), timestamp)
            if headers is not None:  # frozen: set as a __post_init__ would
                object.__setattr__(record, "headers", headers)
            t.log.append(record)
            self._cond.notify_all()
            return record

    def subscribe(self, topics: Iterable[str], manual_ack: bool = False) -> Subscription:
        """Start reading ``topics`` from their oldest retained message.

        With ``manual_ack`` a message stays retained until the subscription
        acknowledges it (:meth:`Subscription.ack`), not just until it is read.
        """
        sub = Subscription(self, topics, manual_ack)
        with self._cond:
            for name in sub._topics:
                t = self._topic(name)
                t.readers[id(sub)] = t.base
                if manual_ack:
                    t.acked[id(sub)] = t.base
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._cond:
            if sub.closed:
                return
            sub.closed = True
            for name in sub._topics:
                t = self._topics.get(name)
                if t is not None:
                    t.readers.pop(id(sub), None)
                    t.acked.pop(id(sub), None)
                    t.trim()
            self._cond.notify_all()

    def _seek(self, sub: Subscription, to_end: bool) -> None:
        with self._cond:
            for name in sub._topics:
                t = self._topics[name]
                t.readers[id(sub)] = t.end if to_end else t.base
                if sub.manual_ack:
                    t.acked[id(sub)] = t.readers[id(sub)]
                t.trim()
            self._cond.notify_all()

    def _ack(self, sub: Subscription, record: Record) -> None:
        with self._cond:
            t = self._topics.get(record.topic)
            if t is None or id(sub) not in t.acked:
                return
            t.acked[id(sub)] = max(t.acked[id(sub)], record.offset + 1)
            was_full = t.full()
            t.trim()
            if was_full and not t.full():
                self._cond.notify_all()

    def _take(self, sub: Subscription) -> Record | None:
        names = sub._topics
        n = len(names)
        for i in range(n):
            t = self._topics[names[(sub._next + i) % n]]
            pos = t.readers[id(sub)]
            if pos < t.end:
                record = t.log[pos - t.base]
                t.readers[id(sub)] = pos + 1
                if pos == t.base:
                    was_full = t.full()
                    t.trim()
                    if was_full and not t.full():
                        self._cond.notify_all()
                sub._next = (sub._next + i + 1) % n
                return record
        return None

    def _get(self, sub: Subscription, timeout: float | None) -> Record | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if sub.closed:
                    return None
                record = self._take(sub)
                if record is not None:
                    return record
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def wake_all(self) -> None:
        """Wake every waiting reader (used when one closes)."""
        with self._cond:
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
