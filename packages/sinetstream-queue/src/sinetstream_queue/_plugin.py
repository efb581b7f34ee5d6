"""The sinetstream backend classes of ``type: queue``.

Parameters (under ``type_spec`` in a version 3 config, top level in 1 and 2):

``brokers``
    Name of the in-process broker (default ``default``); different names are
    isolated from each other.
``maxsize``
    Unread messages a topic keeps before publishers wait (default 10000).
``publish_timeout_ms``
    How long a publish waits for room in a full topic before failing
    (default 10000; ``inf`` waits forever).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from sinetstream.error import InvalidArgumentError, NotOpenError, SinetError
from sinetstream.spi import (
    AsyncReaderBase,
    ConfigVersion,
    PluginAsyncMessageWriter,
    PluginMessage,
    PluginMessageReader,
    PluginMessageWriter,
    PublishPromise,
)
from sinetstream.spi.params import Params, check_str_list, service_where

from ._broker import Broker, QueueFullError, Record, Subscription, broker, stored, timeout_seconds

__all__ = ["QueueAsyncReader", "QueueAsyncWriter", "QueueReader", "QueueWriter"]

# Readers poll at least this often so close() is noticed promptly.
_POLL_S = 0.1


def _settings(confver: ConfigVersion, params: Mapping[str, Any]) -> tuple[Broker, float | None]:
    p = Params.messaging(confver, params, "queue")
    name = p.values.get("brokers", params.get("brokers", "default"))
    if isinstance(name, list):
        if len(name) != 1:
            raise InvalidArgumentError("brokers: a queue service names exactly one broker")
        name = name[0]
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"brokers: {name!r} is not a queue broker name")
    maxsize = p.get_int("maxsize", 10_000, minimum=1)
    timeout = p.get_number("publish_timeout_ms", 10_000.0, minimum=0, allow_inf=True)
    return broker(name, maxsize), timeout_seconds(timeout)


def _reader_topics(params: Mapping[str, Any]) -> list[str]:
    topics = params.get("topics") or params.get("topic")
    return check_str_list("topics", topics, where=service_where(params, "queue"))


def _writer_topic(params: Mapping[str, Any]) -> str:
    topic = params.get("topic")
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError("topic: a queue writer needs a topic")
    return topic


class _ReaderCommon:
    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        self._broker, _ = _settings(confver, params)
        self._topics = _reader_topics(params)
        self._timeout = timeout_seconds(params.get("receive_timeout_ms"))
        self._sub: Subscription | None = None
        self._received = 0

    def _subscription(self) -> Subscription:
        sub = self._sub
        if sub is None:
            raise NotOpenError("the queue reader is not open")
        return sub

    def seek_to_beginning(self) -> None:
        """Re-read every message the topics still retain."""
        self._subscription().seek(to_end=False)

    def seek_to_end(self) -> None:
        """Skip every message published so far."""
        self._subscription().seek(to_end=True)

    def metrics(self) -> dict[str, Any]:
        """Messages received and messages waiting, per topic."""
        return {
            "received": self._received,
            "backlog": {t: self._broker.backlog(t) for t in self._topics},
        }

    def reset_metrics(self) -> None:
        """Zero the received counter."""
        self._received = 0

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """``{"topics": [...], "subscribed": bool}``; ``ipath`` selects one key."""
        info = {"topics": list(self._topics), "subscribed": self._sub is not None}
        return info.get(ipath[0]) if ipath else info


class QueueReader(_ReaderCommon, PluginMessageReader):
    """Synchronous reader: iterate for ``(bytes, topic, Record)``.

    Supports manual acknowledgement (``enable_manual_ack`` / ``ack``): a
    message read but not acknowledged stays in its topic, and a reader
    subscribing after this one closed receives it again.
    """

    _manual_ack = False

    def enable_manual_ack(self) -> None:
        """From the next ``open()``, keep each message until :meth:`ack` is called for it."""
        self._manual_ack = True

    def ack(self, raw: Any) -> None:
        """Acknowledge the message whose ``raw`` is given, and every earlier one of its topic."""
        sub = self._sub
        if sub is not None:
            sub.ack(raw)

    def open(self) -> None:
        """Subscribe; messages retained on the topics are delivered first."""
        if self._sub is None:
            self._sub = self._broker.subscribe(self._topics, self._manual_ack)

    def close(self) -> None:
        """Unsubscribe; safe to call twice."""
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()

    def __iter__(self) -> Iterator[tuple[bytes, str, Record]]:
        for record in self._subscription().records(self._timeout):
            if record is None:
                return
            self._received += 1
            yield record.value, record.topic, record


class QueueAsyncReader(_ReaderCommon, AsyncReaderBase):
    """Callback reader: a thread hands each message to ``on_message``."""

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Subscribe and start the delivery thread."""
        if self._sub is not None:
            return
        self._sub = self._broker.subscribe(self._topics)
        self._thread = threading.Thread(
            target=self._run, args=(self._sub,), name="sinetstream-queue-reader", daemon=True
        )
        self._thread.start()

    def _run(self, sub: Subscription) -> None:
        deliver = self.deliver
        for record in sub.records(_POLL_S):
            if record is not None:
                self._received += 1
                deliver(record.value, record.topic, record)

    def close(self) -> None:
        """Stop the thread (after the message in hand) and unsubscribe."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        sub.close()  # the thread stops at its next look at sub.closed
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class _WriterCommon:
    #: ``message.headers`` travel with the message, in process (the headers SPI hook).
    supports_headers = True

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        self._broker, self._publish_timeout = _settings(confver, params)
        self._topic = _writer_topic(params)
        self._opened = False
        self._published = 0

    def _check_open(self) -> None:
        if not self._opened:
            raise NotOpenError("the queue writer is not open")

    def metrics(self) -> dict[str, Any]:
        """Messages published and messages waiting on the topic."""
        return {"published": self._published, "backlog": self._broker.backlog(self._topic)}

    def reset_metrics(self) -> None:
        """Zero the published counter."""
        self._published = 0

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """``{"topic": ...}``; ``ipath`` selects one key."""
        info = {"topic": self._topic}
        return info.get(ipath[0]) if ipath else info


class QueueWriter(_WriterCommon, PluginMessageWriter):
    """Synchronous writer: ``publish`` returns the stored :class:`Record`."""

    def open(self) -> None:
        """Nothing to connect to; marks the writer usable."""
        self._opened = True

    def close(self) -> None:
        """Mark the writer closed; safe to call twice."""
        self._opened = False

    def publish(self, message: bytes) -> Record:
        """Append ``message`` to the topic, waiting while the topic is full."""
        if not self._opened:
            self._check_open()
        if type(message) is not PluginMessage:
            message = stored(message)
        record = self._broker._store(self._topic, message, self._publish_timeout)
        self._published += 1
        return record


class QueueAsyncWriter(_WriterCommon, PluginAsyncMessageWriter):
    """Asynchronous writer: ``publish`` never blocks; a thread waits on full topics.

    Messages keep their publish order; ``close()`` waits until every accepted
    message is stored or has failed.
    """

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        self._backlog: deque[tuple[PluginMessage, PublishPromise]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # Counted by the thread (publish counts what it stores at once in _published).
        self._stored_later = 0

    def metrics(self) -> dict[str, Any]:
        """Messages published and messages waiting on the topic."""
        return {
            "published": self._published + self._stored_later,
            "backlog": self._broker.backlog(self._topic),
        }

    def reset_metrics(self) -> None:
        """Zero the published counter."""
        self._published = self._stored_later = 0

    def open(self) -> None:
        """Start the thread that stores messages a full topic could not take at once."""
        if self._opened:
            return
        self._opened = True
        self._thread = threading.Thread(
            target=self._run, name="sinetstream-queue-writer", daemon=True
        )
        self._thread.start()

    def publish(self, message: bytes) -> PublishPromise:
        """Store ``message``; the Promise resolves with its :class:`Record`."""
        if not self._opened:
            self._check_open()
        if type(message) is not PluginMessage:
            message = stored(message)
        # Without the writer's lock: an empty backlog means every message this
        # thread published before is stored (the thread removes one only after
        # storing it), so storing this one now keeps the thread's order.
        if not self._backlog:
            try:
                # no wait: stored if the topic has room once the readers are settled
                record = self._broker._store(self._topic, message, 0.0)
            except QueueFullError:
                pass
            else:
                self._published += 1
                return PublishPromise.fulfilled(record)
        pending = PublishPromise()
        with self._cond:
            self._check_open()  # closed meanwhile: its thread may be gone
            self._backlog.append((message, pending))
            self._cond.notify()
        return pending

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._backlog and self._opened:
                    self._cond.wait()
                if not self._backlog:
                    return
                message, pending = self._backlog[0]
            try:
                record = self._broker._store(self._topic, message, self._publish_timeout)
            except SinetError as exc:
                with self._cond:
                    self._backlog.popleft()
                pending.do_reject(exc)
                continue
            with self._cond:
                self._backlog.popleft()
                self._stored_later += 1
            pending.do_resolve(record)

    def close(self) -> None:
        """Wait for accepted messages to be stored, then stop the thread."""
        with self._cond:
            if not self._opened:
                return
            self._opened = False
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
