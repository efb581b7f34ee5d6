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
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer
from sinetstream.error import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,  # noqa: A004 - sinetstream's name
    NotOpenError,
)
from sinetstream.spi import AsyncReaderBase, ConfigVersion, PluginMessageReader

from ._acks import ManualAck
from ._consumer import ReaderBase
from ._errors import to_sinet_error
from ._headers import record_payload

__all__ = ["KafkaAsyncReader", "KafkaReader"]

log = logging.getLogger("sinetstream_kafka")

# Poll slice of the callback reader: how fast close() and seeks are noticed.
_ASYNC_POLL_MS = 100
# The callback reader reports a ConnectionError once no broker connection has
# existed for this long (kafka-python itself keeps reconnecting silently).
_OUTAGE_REPORT_S = 2.0
# How long a connection must stay up to end an outage.
_RECONNECTED_S = 1.0


class _ConnectionWatch:
    """Tells when a consumer has had no broker connection for a while.

    A connection ends an outage only once it has stayed up for
    :data:`_RECONNECTED_S`: a broker (or proxy) that accepts connections and
    drops them at once is an outage that goes on, not a series of short ones.
    """

    def __init__(
        self, consumer: KafkaConsumer, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._count: Any = None
        for name, metric in (consumer.metrics(raw=True) or {}).items():
            if name.name == "connection-count":
                self._count = metric
        self._clock = clock
        self._down_since: float | None = None
        self._up_since: float | None = None
        self.reported = False

    def outage(self) -> float:
        """Seconds since the connections went down (0 while connected)."""
        if self._count is None:
            return 0.0
        now = self._clock()
        if self._count.value() > 0:
            if self._up_since is None:
                self._up_since = now
            if now - self._up_since >= _RECONNECTED_S:
                self._down_since = None
                self.reported = False
            return 0.0
        self._up_since = None
        if self._down_since is None:
            self._down_since = now
        return now - self._down_since


class KafkaReader(ManualAck, ReaderBase, PluginMessageReader):
    """``type: kafka`` reader: iterate to get ``(bytes, topic, ConsumerRecord)`` tuples.

    With ``enable_manual_ack()`` (:mod:`._acks`) only acknowledged offsets are committed.
    """

    def open(self) -> None:
        """Connect and subscribe; returns once the reader has its partitions."""
        with self._lock:
            if self._consumer is None:
                self._consumer = self._open_consumer()

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
        commit_before = self._cfg.commit_before_delivery
        queue = self._queue
        poll = consumer.poll
        # A previous iteration left early (``break``): its batch goes on from where it stopped.
        rest = self._current[self._handed :]
        if rest:
            queue.appendleft(rest)
        self._current, self._handed = [], 0
        while True:
            while queue:
                records = queue.popleft()
                self._current = records
                self._handed = 0
                for rec in records:
                    self._handed += 1
                    yield record_payload(rec), rec.topic, rec
            if self._consumer is not consumer:
                return  # closed meanwhile
            deadline = time.monotonic() + timeout_ms / 1000 if not forever else 0.0
            while True:
                if forever:
                    wait = 1000.0
                else:
                    wait = (deadline - time.monotonic()) * 1000
                    if wait <= 0:
                        return
                if self._acked:
                    self._commit_acked(consumer)
                try:
                    fetched = poll(timeout_ms=wait)
                except Exception as exc:
                    if self._consumer is not consumer:
                        return
                    corrupt = self._skip_corrupt(consumer, exc)
                    if corrupt is not None:
                        raise corrupt from exc
                    raise to_sinet_error(exc, f"reading {self._cfg.topics}") from exc
                if fetched:
                    queue.extend(fetched.values())
                    if commit_before:
                        self._commit_before_delivery(consumer)
                    break
                if self._consumer is not consumer:
                    return


class KafkaAsyncReader(ReaderBase, AsyncReaderBase):
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
        stop, ready, queue = self._stop, self._ready, self._queue
        commit_before = self._cfg.commit_before_delivery
        doing = f"reading {self._cfg.topics}"
        backoff = float(self._cfg.consumer.get("retry_backoff_ms", 100)) / 1000
        watch = _ConnectionWatch(consumer)
        while not stop.is_set():
            if self.on_message is None and not self._requests:
                ready.wait()
                continue
            self._serve_requests(consumer)
            if self.on_message is None:
                continue
            # Hand over what is queued, strictly in partition order, from this thread.
            while queue and not stop.is_set():
                records = queue.popleft()
                self._current, self._handed = records, 0
                for rec in records:
                    if stop.is_set() or self._requests:
                        break
                    self._handed += 1
                    self.deliver(record_payload(rec), rec.topic, rec)
                if self._requests:
                    break
            if stop.is_set() or self._requests:
                continue
            try:
                fetched = consumer.poll(timeout_ms=_ASYNC_POLL_MS)
            except Exception as exc:
                if stop.is_set():
                    break
                corrupt = self._skip_corrupt(consumer, exc)
                if corrupt is not None:
                    self.fail(corrupt)
                    continue
                err = to_sinet_error(exc, doing)
                self.fail(err)
                if isinstance(err, (AuthenticationError, AuthorizationError)):
                    log.error("kafka reader stopped: %s", err)
                    break
                stop.wait(backoff)
                continue
            if fetched:
                queue.extend(fetched.values())
                if commit_before:
                    self._commit_before_delivery(consumer)
            elif not watch.reported and watch.outage() >= _OUTAGE_REPORT_S:
                watch.reported = True  # once per outage; the client keeps reconnecting
                self.fail(
                    ConnectionError(
                        f"kafka: no connection to any broker of "
                        f"{self._cfg.consumer['bootstrap_servers']} for {_OUTAGE_REPORT_S:.0f} s "
                        "while reading; still retrying"
                    )
                )
