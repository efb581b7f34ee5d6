"""paho's ``Client``, reading the socket in large chunks and reporting each read burst.

The sockets it uses (:mod:`._sockets`) read 64 KiB at a time, join the
packets one write pass sends, and wake the network thread once per burst of
publishes. Here every packet already in the read buffer is handled before
paho selects again, and ``after_read`` is called once per burst, so a reader
can hand its messages to the iterating thread in one batch instead of waking
it for each one.

An MQTT 3.1.x PUBACK/PUBCOMP (a packet id, nothing else) is handled without
the ReasonCode and Properties objects paho builds for each one.

paho gives every message a ``threading.Condition`` of its own (in its
``MQTTMessageInfo``): building one is a fifth of a QoS 1 writer's CPU at
1 KiB, counting the garbage collections its objects bring on. A
:class:`BufferedClient` publishes through :meth:`BufferedClient.publish_bytes`,
whose receipts share the client's one Condition.

An MQTT 3.1.x PUBLISH is read with one slice per field; paho's decoder copies
the payload two or three times (a ``struct.unpack`` per field) and its
``MQTTMessage`` builds a Condition for every received message.

This leans on paho 2.x internals, the same in 2.0 to 2.2 (the dependency is
pinned below 3): ``_create_socket``, ``_handle_on_message``,
``_handle_pubackcomp`` (with ``_in_packet``, ``_out_messages`` and
``_do_on_publish``), ``_handle_publish`` (with ``_send_puback``,
``_send_pubrec``, ``_in_messages`` and ``_manual_ack``), ``_packet_write``,
the ``MQTTMessage`` and ``MQTTMessageInfo`` slots, ``_mid_generate``,
``_send_publish`` and the queue counters ``publish`` keeps, the
``_sockpairR``/``_sockpairW`` pair made by ``loop_start`` and the ``_thread``
it starts. The MQTT tests exercise each of them against a real Mosquitto.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import InvalidMessageError

from ._sockets import BufferedSocket, Waker, WakeReader

__all__ = ["BufferedClient"]

# MQTT's largest packet body (a payload cannot be larger).
_MAX_PAYLOAD = 268435455
# Buffered packets handled per select(): bounds the time paho's loop spends
# reading before it looks at its keepalive and outgoing queue again.
_MAX_PACKETS = 64
_OK = mqtt.MQTT_ERR_SUCCESS
# An MQTT 3.1.x PUBACK/PUBCOMP carries a packet id only: the success code and
# the empty properties paho builds for each one are built once here.
_ACKS = {
    cmd: (ReasonCode(kind), Properties(kind))  # type: ignore[no-untyped-call]
    for cmd, kind in (("PUBACK", PacketTypes.PUBACK), ("PUBCOMP", PacketTypes.PUBCOMP))
}


class _Receipt(mqtt.MQTTMessageInfo):
    """paho's ``MQTTMessageInfo``, waiting on its client's shared Condition.

    ``wait_for_publish`` and ``is_published`` are paho's own; publishing
    wakes every waiter of the client, and each one checks its own message.
    """

    __slots__ = ()

    def __init__(self, mid: int, condition: threading.Condition) -> None:
        # The attributes paho's __init__ sets, but its Condition.
        self.mid = mid
        self.rc = _OK
        self._published = False
        self._iterpos = 0
        self._condition = condition

    def _set_as_published(self) -> None:
        with self._condition:
            self._published = True
            self._condition.notify_all()


def _message(
    mid: int,
    topic: bytes,
    payload: bytes,
    *,
    qos: int,
    retain: bool,
    dup: bool,
    info: _Receipt,
    properties: Properties | None = None,
) -> mqtt.MQTTMessage:
    """The ``MQTTMessage`` paho builds, with ``info`` instead of a receipt of its own."""
    message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
    message.timestamp = time.monotonic()
    message.state = mqtt.mqtt_ms_invalid
    message.dup = dup
    message.mid = mid
    message._topic = topic
    message.payload = payload
    message.qos = qos
    message.retain = retain
    message.info = info
    message.properties = properties
    return message


class BufferedClient(mqtt.Client):
    """A paho ``Client`` that reads in chunks and calls ``after_read`` per burst."""

    #: Called on paho's network thread after each burst of packets was handled.
    after_read: Callable[[], None] | None = None

    # Set once message_callback_add() was used: paho's topic matcher is needed.
    _has_filtered = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # _packet_write runs on the network thread, or on a publishing thread when
        # no network thread runs: one pass at a time through the held bytes.
        self._write_lock = threading.Lock()
        # What every receipt of publish_bytes waits on.
        self._receipts = threading.Condition()

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_start(self) -> MQTTErrorCode:
        rc = super().loop_start()
        reader, writer, thread = self._sockpairR, self._sockpairW, self._thread
        if rc == _OK and reader is not None and writer is not None and thread is not None:
            waker = Waker(writer, thread.ident)
            # Same file descriptors: a select() already running is not disturbed.
            self._sockpairW = waker  # type: ignore[assignment]
            self._sockpairR = WakeReader(reader, waker)  # type: ignore[assignment]
        return rc

    def publish_bytes(
        self,
        topic: bytes,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """paho's ``publish`` for a checked topic and a bytes payload (MQTT 5: ``properties``).

        The same queueing, in-flight window and return codes as paho's (QoS 1/2
        messages are kept while disconnected and sent after reconnecting); the
        receipt shares the client's Condition. Raises ``InvalidMessageError``
        for a payload larger than MQTT allows (paho raised ``ValueError``).
        """
        if len(payload) > _MAX_PAYLOAD:
            raise InvalidMessageError(
                f"MQTT message of {len(payload)} bytes: the protocol carries at most "
                f"{_MAX_PAYLOAD} bytes (256 MiB) per message"
            )
        mid = self._mid_generate()
        info = _Receipt(mid, self._receipts)
        if qos == 0:
            info.rc = self._send_publish(mid, topic, payload, 0, retain, False, info, properties)
            return info
        message = _message(
            mid, topic, payload, qos=qos, retain=retain, dup=False, info=info, properties=properties
        )
        with self._out_message_mutex:
            out = self._out_messages
            if mid in out or 0 < self._max_queued_messages <= len(out):
                info.rc = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
                return info
            out[mid] = message
            window = self._max_inflight_messages
            if window and self._inflight_messages >= window:
                message.state = mqtt.mqtt_ms_queued  # sent when an acknowledgement frees a slot
                return info
            self._inflight_messages += 1
            message.state = (
                mqtt.mqtt_ms_wait_for_puback if qos == 1 else mqtt.mqtt_ms_wait_for_pubrec
            )
            rc = self._send_publish(mid, topic, payload, qos, retain, False, info, properties)
            if rc == mqtt.MQTT_ERR_NO_CONN:  # sent after reconnecting
                self._inflight_messages -= 1
                message.state = mqtt.mqtt_ms_publish
            info.rc = rc
            return info

    def write_now(self) -> None:
        """Write paho's queued packets from the calling thread.

        A QoS 0 publish is done once its bytes are handed to the socket:
        writing them here spares a sync publish the hop to the network thread
        and back. Bytes the kernel refuses and failures are left to the network
        thread (woken by paho for the packet already), as they would be anyway.
        Only on a plain TCP connection: a TLS or websocket connection is written
        by the network thread alone, which also reads it.
        """
        sock: Any = self._sock
        if isinstance(sock, BufferedSocket) and sock.full_duplex and self._out_packet:
            self._packet_write()

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._has_filtered = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # With one on_message and no per-topic callbacks, skip paho's topic
        # matcher: it walks the topic with generators for every message (a
        # seventh of the network thread's time at 1 KiB).
        if self._has_filtered:
            super()._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _handle_publish(self) -> MQTTErrorCode:
        # An MQTT 3.1.x PUBLISH read with one slice per field: paho's decoder copies
        # the payload two or three times (a struct.unpack per field) and builds a
        # Condition per received message. What follows is paho's own handling.
        # MQTT 5 (properties) and anything malformed: paho's own, which raises.
        header = self._in_packet["command"]
        packet = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        size = len(packet)
        topic_end = 2 + ((packet[0] << 8) | packet[1]) if size >= 2 else size + 1
        pos = topic_end + (2 if qos else 0)
        if self._protocol == MQTTProtocolVersion.MQTTv5 or qos == 3 or topic_end == 2 or pos > size:
            rc: MQTTErrorCode = super()._handle_publish()
            return rc
        mid = (packet[topic_end] << 8) | packet[topic_end + 1] if qos else 0
        topic = bytes(packet[2:topic_end])
        message = _message(
            mid,
            topic,
            bytes(memoryview(packet)[pos:]),  # paho's packet is a bytearray: one copy
            qos=qos,
            retain=bool(header & 0x01),
            dup=bool(header & 0x08),
            info=_Receipt(mid, self._receipts),
        )
        self._easy_log(
            mqtt.MQTT_LOG_DEBUG,
            "Received PUBLISH (d%d, q%d, r%d, m%d), %r, ...  (%d bytes)",
            message.dup, qos, message.retain, mid, topic, size - pos,
        )  # fmt: skip
        if qos == 0:
            self._handle_on_message(message)
            return _OK
        if qos == 1:
            self._handle_on_message(message)
            if self._manual_ack:
                return _OK
            puback: MQTTErrorCode = self._send_puback(mid)
            return puback
        pubrec: MQTTErrorCode = self._send_pubrec(mid)
        message.state = mqtt.mqtt_ms_wait_for_pubrel
        with self._in_message_mutex:
            self._in_messages[mid] = message
        return pubrec

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        # MQTT 3.1.x acknowledgement (a 2-byte packet id): what paho does, without
        # building a ReasonCode and a Properties per message (a quarter of the
        # network thread's time at QoS 1). MQTT 5 and anything else: paho's own.
        packet = self._in_packet["packet"]
        ack = _ACKS.get(cmd)
        if self._protocol == MQTTProtocolVersion.MQTTv5 or len(packet) != 2 or ack is None:
            rc: MQTTErrorCode = super()._handle_pubackcomp(cmd)
            return rc
        mid = (packet[0] << 8) | packet[1]
        self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received %s (Mid: %d)", cmd, mid)
        with self._out_message_mutex:
            if mid in self._out_messages:
                done: MQTTErrorCode = self._do_on_publish(mid, ack[0], ack[1])
                return done
        return _OK

    def _packet_write(self) -> MQTTErrorCode:
        # The packets this pass takes from paho's queue leave in one send().
        sock: Any = self._sock
        if not isinstance(sock, BufferedSocket):
            rc: MQTTErrorCode = super()._packet_write()
            return rc
        with self._write_lock:
            sock.hold()
            try:
                rc = super()._packet_write()
            finally:
                try:
                    sock.flush()
                except OSError as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "failed to send on socket: %s", err)
                    rc = MQTTErrorCode.MQTT_ERR_CONN_LOST
        if sock.unsent and rc == _OK:
            self._call_socket_register_write()
            return MQTTErrorCode.MQTT_ERR_AGAIN
        return rc

    def want_write(self) -> bool:
        sock: Any = self._sock
        return bool(self._out_packet) or (isinstance(sock, BufferedSocket) and bool(sock.unsent))

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        try:
            rc = super().loop_read(max_packets)
            budget = _MAX_PACKETS
            sock: Any = self._sock
            # Packets already buffered are read now, not one per select().
            while rc == _OK and budget and isinstance(sock, BufferedSocket) and sock.pending():
                rc = super().loop_read(max_packets)
                budget -= 1
                sock = self._sock
            return rc
        finally:
            hook = self.after_read
            if hook is not None:
                hook()
