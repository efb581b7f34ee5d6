"""The MQTT readers: a bounded-buffer iterator and a callback reader."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import (
    InvalidArgumentError,
    SinetError,
)
from sinetstream.spi import AsyncReaderBase, ConfigVersion, PluginMessageReader

from ._client import BufferedClient
from ._connection import log
from ._headers import received_payload
from ._outage import ReaderConnection

__all__ = ["MqttAsyncReader", "MqttReader"]

# (payload, topic, raw message, connection generation)
Item = tuple[bytes, str, mqtt.MQTTMessage, int]

# How often a network thread blocked on a full buffer re-checks for close().
_FULL_POLL = 0.1


class _Closed:
    """Queue marker: the reader was closed."""


_CLOSED = _Closed()


class _Failure:
    """Queue marker carrying an error for the iterating thread."""

    __slots__ = ("error",)

    def __init__(self, error: SinetError) -> None:
        self.error = error


class MqttReader(ReaderConnection, PluginMessageReader):
    """Synchronous MQTT reader (entry point ``sinetstream.reader: mqtt``).

    Messages go from paho's network thread into a buffer of at most
    ``receive_buffer_size`` messages and about ``receive_buffer_bytes`` payload
    bytes (one message more than that at most). When it is full the network thread waits,
    so the broker's flow control (TCP, QoS 1/2 in-flight window) slows the
    sender instead of this process growing or dropping messages.

    The network thread hands messages over in batches, one per read burst
    (see :class:`BufferedClient`): the iterating thread is woken once per
    batch, not once per message.

    QoS 1/2 messages are acknowledged when the iterator hands them out, not
    when they enter the buffer: what is still buffered when the reader closes
    or dies is redelivered by the broker (persistent session), and the
    broker's in-flight window bounds what it sends ahead of the consumer.
    With :meth:`enable_manual_ack` (QoS 1, persistent session) the PUBACK
    waits for :meth:`ack` instead.
    """

    _role = "reader"

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        timeout_ms = params.get("receive_timeout_ms", math.inf)
        if timeout_ms is None or math.isinf(timeout_ms):
            self._timeout: float | None = None
        else:
            self._timeout = max(float(timeout_ms), 0.0) / 1000.0
        self._limit = self._settings.receive_buffer_size
        self._byte_limit = self._settings.receive_buffer_bytes
        self._reset_buffer()
        self._not_full = threading.Event()
        self._manual_ack = self._settings.qos > 0
        # enable_manual_ack(): messages handed out, not acknowledged yet -> their connection.
        self._unacked: dict[int, tuple[mqtt.MQTTMessage, int]] | None = None

    def enable_manual_ack(self) -> None:
        """Send each PUBACK only when :meth:`ack` is called (QoS 1, persistent session).

        What was not acknowledged when the reader closes or dies is delivered
        again by the broker to the next reader with the same client id.
        """
        s = self._settings
        if s.qos != 1:
            raise InvalidArgumentError(
                f"mqtt reader: manual acknowledgement needs qos 1 (consistency AT_LEAST_ONCE), "
                f"not qos {s.qos}: QoS 0 has no acknowledgement, and QoS 2 is acknowledged "
                "(PUBREC) before the message is handed out"
            )
        persistent = (
            s.clean_start is False and s.connect_properties.get("session_expiry_interval", 0) > 0
            if s.is_v5
            else s.clean_session is False
        )
        if not persistent:
            raise InvalidArgumentError(
                "mqtt reader: manual acknowledgement needs a persistent session, so that the "
                "broker keeps what is not acknowledged: set persistent_session: true and a "
                "fixed client_id"
            )
        self._unacked = {}

    def ack(self, raw: Any) -> None:
        """Send the PUBACK of ``raw`` (an MQTTMessage handed out by the iterator)."""
        unacked = self._unacked
        if unacked is None:
            return
        entry = unacked.pop(id(raw), None)
        if entry is not None:
            self._ack(entry[0], entry[1])

    def _reset_buffer(self) -> None:
        """An empty buffer, for a new connection."""
        # Batches (lists of Item) and markers, network thread -> iterator. A C-level
        # SimpleQueue: queue.Queue costs microseconds in Python-level locking.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch: list[Item] = []  # filled by the network thread, not yet queued
        self._chunk: list[Item] = []  # the batch the iterator is handing out
        self._pos = 0  # next index in _chunk
        # Buffered = _queued - _taken messages, _bytes_in - _bytes_out payload bytes;
        # each counter has a single writing thread.
        self._queued = 0
        self._taken = 0
        self._bytes_in = 0
        self._bytes_out = 0
        # The lost connection queued for the iterator and not raised yet.
        self._pending_loss: SinetError | None = None

    def reset_metrics(self) -> None:
        super().reset_metrics()
        self._received = 0
        self._duplicates = 0
        self._buffer_full = 0

    def _role_metrics(self) -> dict[str, Any]:
        return {
            "received": self._received,
            "duplicates": self._duplicates,
            "buffer_full_waits": self._buffer_full,
            "buffered": self._queued - self._taken + len(self._batch),
            "buffered_bytes": self._bytes_in - self._bytes_out,
        }

    def _install_callbacks(self, client: BufferedClient) -> None:
        super()._install_callbacks(client)
        self._reset_buffer()
        client.on_message = self._on_message
        client.after_read = self._flush

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._received += 1
        if msg.dup:
            self._duplicates += 1
        batch = self._batch
        payload = received_payload(msg)
        batch.append((payload, msg.topic, msg, self._generation))
        self._bytes_in += len(payload)
        if (
            self._queued + len(batch) - self._taken >= self._limit
            or self._bytes_in - self._bytes_out >= self._byte_limit
        ):
            self._flush()
            # A resumed session's backlog arrives before the SUBACK that open()
            # waits for: once it fills the buffer, open() returns (a subscription
            # the SUBACK then refuses is raised by the iterator), and this thread
            # stops reading like at any other time the buffer is full.
            self._ready.set()
            self._wait_not_full()

    def _flush(self) -> None:
        """Hand the messages read so far to the iterator (network thread)."""
        batch = self._batch
        if batch:
            self._batch = []
            self._queued += len(batch)
            self._queue.put(batch)

    def _wait_not_full(self) -> None:
        # Runs on paho's network thread: while it waits, nothing is read from
        # the socket, so TCP and the broker's in-flight window hold back the
        # sender. The iterator sets _not_full after taking a message.
        self._buffer_full += 1
        not_full = self._not_full
        while not self._closing:
            not_full.clear()
            if (
                self._queued - self._taken < self._limit
                and self._bytes_in - self._bytes_out < self._byte_limit
            ):
                return
            not_full.wait(_FULL_POLL)

    def _report_failure(self, error: SinetError) -> None:
        # What the callback reader passes to on_failure, the iterator raises, after
        # the messages read before it; iterating again goes on (paho reconnects).
        # Network thread: the batch being filled is flushed first.
        super()._report_failure(error)
        self._flush()
        self._queue.put(_Failure(error))

    def _disconnected_hook(self, reason: ReasonCode) -> None:
        # Network thread: what was read before the loss goes ahead of its report.
        self._flush()
        super()._disconnected_hook(reason)

    def _report_outage(self, error: SinetError) -> None:
        # Timer thread: the batch belongs to the network thread (flushed at the loss).
        # Once until the iterator raised it: outages while nobody iterates are one
        # failure to hear about, not one per outage.
        log.warning("%s", error)
        if self._pending_loss is None:
            self._pending_loss = error
            self._queue.put(_Failure(error))

    def __iter__(self) -> Iterator[tuple[bytes, str | None, Any]]:
        # Where the iterator is in its batch lives on self, not in this
        # generator: a new iterator (the user broke out of a loop and iterates
        # again) continues with the rest of the batch.
        get = self._queue.get
        timeout = self._timeout
        unacked = self._unacked  # deferred acknowledgement: ack() sends the PUBACK
        manual_ack = self._manual_ack and unacked is None
        not_full = self._not_full
        while True:
            chunk = self._chunk
            pos = self._pos
            if pos >= len(chunk):
                try:
                    got = get(timeout=timeout)
                except queue.Empty:
                    return
                if type(got) is not list:
                    if got is _CLOSED:
                        self._queue.put(_CLOSED)  # every later iterator ends too
                        return
                    if isinstance(got, _Failure):
                        if got.error is self._pending_loss:
                            self._pending_loss = None
                        raise got.error
                    continue
                self._chunk = chunk = got
                pos = 0
            payload, topic, msg, generation = chunk[pos]
            self._pos = pos + 1
            self._taken += 1
            self._bytes_out += len(payload)
            if not not_full.is_set():
                not_full.set()
            if manual_ack and msg.qos:
                self._ack(msg, generation)
            elif unacked is not None and msg.qos:
                unacked[id(msg)] = (msg, generation)
            yield payload, topic, msg

    def _ack(self, msg: mqtt.MQTTMessage, generation: int) -> None:
        client = self._client
        if client is None:
            return
        # A packet id is only meaningful on the connection (or the resumed
        # session) it came from: after a reconnect to a fresh session the
        # broker may reuse the id for another message.
        if generation != self._generation and not self._session_present:
            return
        client.ack(msg.mid, msg.qos)

    def _after_close(self) -> None:
        # Drop what was not consumed and wake an iterating thread.
        if self._unacked:
            self._unacked = {}  # the broker delivers them again (persistent session)
        self._batch = []
        self._chunk = []
        self._pos = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_CLOSED)


class MqttAsyncReader(ReaderConnection, AsyncReaderBase):
    """Callback MQTT reader (entry point ``sinetstream.async_reader: mqtt``).

    ``on_message(payload, topic, raw)`` runs on paho's network thread, so a slow
    callback slows the network loop (backpressure). Messages that arrive
    before ``on_message`` is set wait for it instead of being dropped.
    ``on_failure(exception, traceback)`` receives a connection down for 2 s
    (once per outage, from a timer thread), refused reconnects, denied
    subscriptions and exceptions raised by ``on_message``.
    """

    _role = "reader"

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        self._has_callback = threading.Event()

    def reset_metrics(self) -> None:
        super().reset_metrics()
        self._received = 0
        self._duplicates = 0
        self.callback_errors = 0

    def _role_metrics(self) -> dict[str, Any]:
        return {
            "received": self._received,
            "duplicates": self._duplicates,
            "callback_errors": self.callback_errors,
        }

    def _on_message_changed(self) -> None:
        if self.on_message is None:
            self._has_callback.clear()
        else:
            self._has_callback.set()

    def _install_callbacks(self, client: BufferedClient) -> None:
        super()._install_callbacks(client)
        client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._received += 1
        if msg.dup:
            self._duplicates += 1
        if self.on_message is None:
            while not self._closing and not self._has_callback.wait(0.1):
                pass
        self.deliver(received_payload(msg), msg.topic, msg)

    def _report_failure(self, error: SinetError) -> None:
        self.fail(error)

    def _report_outage(self, error: SinetError) -> None:
        self.fail(error)  # timer thread: on_failure does not hold up paho's network loop
