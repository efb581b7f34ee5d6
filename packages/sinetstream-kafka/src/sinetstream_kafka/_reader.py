"""Kafka readers: an iterator, and a callback reader driven by one thread.

Both poll with ``KafkaConsumer.poll`` and hand records over in partition order.
Offsets (AT_LEAST_ONCE, EXACTLY_ONCE) are auto-committed inside ``poll``, which
runs only after every record of the previous batch was handed over; records
fetched but not handed over when the reader closes are rewound (``seek``) so
the commit made at close never skips them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer
from sinetstream.error import (
    AuthenticationError,
    AuthorizationError,
    InvalidMessageError,
    NotOpenError,
)
from sinetstream.spi import AsyncReaderBase, ConfigVersion, PluginMessageReader

from ._acks import ManualAck
from ._fetch import ConnectionWatch, FetchStep
from ._headers import record_payload

__all__ = ["KafkaAsyncReader", "KafkaReader"]

log = logging.getLogger("sinetstream_kafka")

# Poll slice of the callback reader: how fast close() and seeks are noticed.
_ASYNC_POLL_MS = 100
# Poll slice of the iterator: how fast an outage is noticed.
_SYNC_POLL_MS = 1000.0


class KafkaReader(ManualAck, FetchStep, PluginMessageReader):
    """``type: kafka`` reader: iterate to get ``(bytes, topic, ConsumerRecord)`` tuples.

    With ``enable_manual_ack()`` (:mod:`._acks`) only acknowledged offsets are committed.
    When no broker has been reachable for two seconds, the iterator raises a
    ``ConnectionError`` (once per outage); iterating again goes on.
    """

    _watch: ConnectionWatch

    def open(self) -> None:
        """Connect and subscribe; returns once the reader has its partitions."""
        with self._lock:
            if self._consumer is None:
                self._consumer = self._open_consumer()
                self._watch = ConnectionWatch(self._consumer)

    def close(self) -> None:
        """Commit what was handed over (AT_LEAST_ONCE) and disconnect (idempotent)."""
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._commit_acked(consumer)
            self._close_consumer(consumer)

    def __iter__(self) -> Iterator[tuple[bytes, str | None, Any]]:
        consumer = self._consumer
        if consumer is None:
            raise NotOpenError("kafka reader is not open: call open() (or use 'with') first")
        return self._iterate(consumer)

    def seek_to_beginning(self) -> None:
        """Read every assigned partition again from its oldest record."""
        self._seek(self._require_open(), to_end=False)

    def seek_to_end(self) -> None:
        """Skip to the newest records of every assigned partition."""
        self._seek(self._require_open(), to_end=True)

    def _require_open(self) -> KafkaConsumer:
        consumer = self._consumer
        if consumer is None:
            raise NotOpenError("kafka reader is not open: call open() (or use 'with') first")
        return consumer

    def _iterate(self, consumer: KafkaConsumer) -> Iterator[tuple[bytes, str | None, Any]]:
        timeout_ms = self._cfg.receive_timeout_ms
        forever = timeout_ms == float("inf")
        queue, watch = self._queue, self._watch
        # A previous iteration left early (``break``): its batch goes on from where it stopped.
        rest = self._current[self._handed :]
        if rest:
            queue.appendleft(rest)
        self._current, self._handed = [], 0
        while True:
            for rec in self._handed_over():
                yield record_payload(rec), rec.topic, rec
            deadline = time.monotonic() + timeout_ms / 1000 if not forever else 0.0
            while not queue:
                if self._consumer is not consumer:
                    return  # closed meanwhile
                if forever:
                    wait = _SYNC_POLL_MS
                else:
                    wait = min((deadline - time.monotonic()) * 1000, _SYNC_POLL_MS)
                    if wait <= 0:
                        return
                failure = self._fetch(consumer, wait, watch)
                if failure is not None:
                    raise failure


class KafkaAsyncReader(FetchStep, AsyncReaderBase):
    """``type: kafka`` callback reader: one thread polls and calls ``on_message`` in order.

    Every failure (poll errors, exceptions raised by ``on_message``) goes to
    ``on_failure(exc, tb)``; authentication and authorization failures also stop
    the reader, other failures are retried.
    """

    def __init__(self, confver: ConfigVersion, params: dict[str, Any]) -> None:
        super().__init__(confver, params)
        self._ready = threading.Event()  # set once on_message is set
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._requests: deque[tuple[bool, threading.Event, list[BaseException]]] = deque()

    def _on_message_changed(self) -> None:
        if self.on_message is not None:
            self._ready.set()
        else:
            self._ready.clear()

    def open(self) -> None:
        """Connect, subscribe, and start delivering once ``on_message`` is set."""
        with self._lock:
            if self._consumer is not None:
                return
            consumer = self._open_consumer()
            self._consumer = consumer
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(consumer,), name="sinetstream-kafka-reader", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop delivering, commit what was delivered, disconnect (idempotent)."""
        with self._lock:
            consumer, thread = self._consumer, self._thread
            self._consumer, self._thread = None, None
            self._stop.set()
            self._ready.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if consumer is not None:
            self._close_consumer(consumer)

    def seek_to_beginning(self) -> None:
        """Deliver every assigned partition again from its oldest record."""
        self._request_seek(to_end=False)

    def seek_to_end(self) -> None:
        """Skip to the newest records of every assigned partition."""
        self._request_seek(to_end=True)

    def _request_seek(self, to_end: bool) -> None:
        # KafkaConsumer is not thread-safe: the reader thread performs the seek.
        if self._consumer is None:
            raise NotOpenError("kafka reader is not open: call open() (or use 'with') first")
        if threading.current_thread() is self._thread:
            self._seek(self._consumer, to_end)
            return
        done, errors = threading.Event(), list[BaseException]()
        self._requests.append((to_end, done, errors))
        self._ready.set()
        while not done.wait(0.05):
            if self._thread is None or not self._thread.is_alive():
                raise NotOpenError("kafka reader stopped before the seek was done")
        if self.on_message is None:
            self._ready.clear()
        if errors:
            raise errors[0]

    def _serve_requests(self, consumer: KafkaConsumer) -> bool:
        """Run pending seeks; True when one ran (the current batch is then obsolete)."""
        ran = False
        while self._requests:
            to_end, done, errors = self._requests.popleft()
            try:
                self._seek(consumer, to_end)
            except BaseException as exc:
                errors.append(exc)
            done.set()
            ran = True
        return ran

    def _run(self, consumer: KafkaConsumer) -> None:
        stop, ready = self._stop, self._ready
        backoff = float(self._cfg.consumer.get("retry_backoff_ms", 100)) / 1000
        watch = ConnectionWatch(consumer)

        def halt() -> bool:
            return stop.is_set() or bool(self._requests)

        while not stop.is_set():
            if self.on_message is None and not self._requests:
                ready.wait()
                continue
            self._serve_requests(consumer)
            if self.on_message is None:
                continue
            # Hand over what is queued, strictly in partition order, from this thread.
            for rec in self._handed_over(halt):
                self.deliver(record_payload(rec), rec.topic, rec)
            if halt():
                continue
            failure = self._fetch(consumer, _ASYNC_POLL_MS, watch)
            if failure is None or stop.is_set():
                continue
            self.fail(failure)
            if isinstance(failure, (AuthenticationError, AuthorizationError)):
                log.error("kafka reader stopped: %s", failure)
                break
            if not isinstance(failure, InvalidMessageError):
                stop.wait(backoff)
