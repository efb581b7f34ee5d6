"""paho's ``Client``, reading the socket in large chunks and reporting each read burst.

paho reads a packet with three or four ``recv`` calls (command byte, length
bytes, body) and goes back to ``select()`` after every packet. Each of those
system calls releases the GIL, which hands it to whichever thread wants it
(the thread iterating the reader, the one publishing): per message, a few
thread switches that cost more than the message itself. Here the socket is read
64 KiB at a time into a buffer that paho's small reads are served from, and
every packet already in that buffer is handled before paho selects again.

``after_read`` is called once per burst, so a reader can hand its messages to
the iterating thread in one batch instead of waking it for each one.

paho also wakes its network thread for every packet it queues, by writing a
byte to a socket pair, even when that thread is busy or is the one queueing
(it sends the next message of its queue on each PUBACK). Here a wake-up byte
is written only when none is pending and the caller is another thread: one
system call per burst of publishes instead of one per message. And an MQTT
3.1.x PUBACK/PUBCOMP (a packet id, nothing else) is handled without the
ReasonCode and Properties objects paho builds for each one.

paho writes every queued packet with its own ``send`` (on each PUBACK the
network thread sends the next message of its queue: at QoS 1, a system call
per message). Here the packets one ``_packet_write`` pass takes from the queue
are joined and sent at once (up to 64 KiB; a larger packet is sent as it is);
bytes the kernel did not take are sent first on the next pass, and
``want_write`` reports them, so select() waits for the socket to drain.
Closing the socket sends what is held first (paho's DISCONNECT is one of
those packets).

paho gives every message a ``threading.Condition`` of its own (in its
``MQTTMessageInfo``): building one is a fifth of a QoS 1 writer's CPU at
1 KiB, counting the garbage collections its objects bring on. A
:class:`BufferedClient` publishes through :meth:`BufferedClient.publish_bytes`,
whose receipts share the client's one Condition.

An MQTT 3.1.x PUBLISH is read with one slice per field; paho's decoder copies
the payload two or three times (a ``struct.unpack`` per field) and its
``MQTTMessage`` builds a Condition for every received message.

The buffered socket keeps paho's socket contract: ``recv``/``send``/``fileno``
and a ``pending()`` count of bytes buffered above the kernel (what paho asks of
TLS sockets). The rest leans on paho 2.x internals, the same in 2.0 to 2.2
(the dependency is pinned below 3): ``_create_socket``, ``_handle_on_message``,
``_handle_pubackcomp`` (with ``_in_packet``, ``_out_messages`` and
``_do_on_publish``), ``_handle_publish`` (with ``_send_puback``,
``_send_pubrec``, ``_in_messages`` and ``_manual_ack``), ``_packet_write``,
the ``MQTTMessage`` and ``MQTTMessageInfo`` slots, ``_mid_generate``,
``_send_publish`` and the queue counters ``publish`` keeps, the
``_sockpairR``/``_sockpairW`` pair made by ``loop_start`` and the ``_thread``
it starts. The MQTT tests exercise each of them against a real Mosquitto.
"""

from __future__ import annotations

import select
import socket
import ssl
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

__all__ = ["BufferedClient"]

# Bytes asked of the kernel per recv: a burst of about 60 one-KiB messages.
_CHUNK = 65536
# Bytes of queued packets joined into one send().
_WRITE_BATCH = 65536
# How long closing the socket waits for held bytes to drain.
_CLOSE_DRAIN_S = 1.0
# MQTT's largest packet body (a payload cannot be larger).
_MAX_PAYLOAD = 268435455
# What a non-blocking send raises when the kernel (or TLS) cannot take more now.
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
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


class _BufferedSocket:
    """A connected socket (plain, TLS or paho's websocket wrapper) read in chunks.

    Between :meth:`hold` and :meth:`flush`, ``send`` collects what paho writes
    and reports it written; :meth:`flush` sends it with one system call. Bytes
    the kernel did not take stay in ``unsent``, ahead of anything written later.
    """

    __slots__ = (
        "_buf",
        "_held",
        "_held_len",
        "_holding",
        "_inner_pending",
        "_pos",
        "_sock",
        "full_duplex",
        "unsent",
    )

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self._inner_pending: Callable[[], int] | None = getattr(sock, "pending", None)
        self._held: list[bytes] = []
        self._held_len = 0
        self._holding = False
        #: Bytes written by paho that the kernel has not taken yet.
        self.unsent = b""
        #: A plain TCP socket: one thread may write while another reads. Not so
        #: for TLS (one OpenSSL object) nor paho's websocket wrapper (its reads
        #: send control frames).
        self.full_duplex = isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket)

    def recv(self, size: int) -> bytes:
        buf = self._buf
        pos = self._pos
        end = pos + size
        if end <= len(buf):
            self._pos = end
            return buf[pos:end]
        if pos < len(buf):  # the rest of the buffer: paho reads on for the remainder
            self._buf = b""
            self._pos = 0
            return buf[pos:]
        # Empty: one large read (BlockingIOError and TLS want-read go to paho as usual).
        data: bytes = self._sock.recv(size if size > _CHUNK else _CHUNK)
        if len(data) <= size:
            return data
        self._buf = data
        self._pos = size
        return data[:size]

    def pending(self) -> int:
        """Bytes received but not yet read by paho (ours, plus TLS's own buffer)."""
        inner = self._inner_pending
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        fileno: int = self._sock.fileno()
        return fileno

    def hold(self) -> None:
        """Collect what ``send`` is given until :meth:`flush`."""
        self._holding = True

    def send(self, data: bytes) -> int:
        if self._holding and len(data) < _WRITE_BATCH:
            if self._held_len + len(self.unsent) >= _WRITE_BATCH:
                self._send_held()
                if self.unsent:
                    # The kernel is full: paho keeps this packet, and what this
                    # socket holds stays below _WRITE_BATCH plus one packet.
                    raise BlockingIOError
            self._held.append(data)
            self._held_len += len(data)
            return len(data)
        # Not holding, or a packet too large to gain from joining: what is held
        # goes first, then paho's own send (it keeps what the kernel refuses).
        if self._held or self.unsent:
            self._send_held()
            if self.unsent:
                raise BlockingIOError
        sent: int = self._sock.send(data)
        return sent

    def flush(self) -> None:
        """Stop holding and send what is held; what the kernel refuses stays ``unsent``.

        Raises ``OSError`` when the connection failed.
        """
        self._holding = False
        if self._held or self.unsent:
            self._send_held()

    def _send_held(self) -> None:
        held = self._held
        if not held:
            data = self.unsent
        elif len(held) == 1 and not self.unsent:
            data = held[0]  # nothing to join: no copy
        else:
            data = b"".join((self.unsent, *held))
        held.clear()
        self._held_len = 0
        try:
            sent: int = self._sock.send(data)
        except _WOULD_BLOCK:
            sent = 0
        self.unsent = data[sent:] if sent else data

    def close(self) -> None:
        try:
            self._drain()
        except OSError:
            pass  # the connection is gone anyway
        finally:
            self._buf = b""
            self._pos = 0
            self._held.clear()
            self._held_len = 0
            self.unsent = b""
            self._sock.close()

    def _drain(self) -> None:
        # Held bytes (paho's DISCONNECT among them) go out before the socket
        # closes, waiting up to _CLOSE_DRAIN_S for the kernel to take them.
        self.flush()
        deadline = time.monotonic() + _CLOSE_DRAIN_S
        while self.unsent:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([], [self._sock], [], left)
            self._send_held()

    def __getattr__(self, name: str) -> Any:
        # setblocking, settimeout, getpeercert, ...: the wrapped socket's own.
        return getattr(self._sock, name)


class _Waker:
    """paho's socket pair, writing side: one pending wake-up byte at most."""

    __slots__ = ("_loop_ident", "_sock", "pending")

    def __init__(self, sock: Any, loop_ident: int | None) -> None:
        self._sock = sock
        self._loop_ident = loop_ident
        self.pending = False

    def send(self, data: bytes) -> int:
        # The network thread reads its queue before it selects again, and a byte
        # already pending wakes it anyway: only then is the system call skipped.
        # A race costs at most one extra byte (paho drains them all at once).
        if self.pending or threading.get_ident() == self._loop_ident:
            return len(data)
        self.pending = True
        sent: int = self._sock.send(data)
        return sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _WakeReader:
    """paho's socket pair, reading side: draining it re-arms the waker."""

    __slots__ = ("_sock", "_waker")

    def __init__(self, sock: Any, waker: _Waker) -> None:
        self._sock = sock
        self._waker = waker

    def recv(self, size: int) -> bytes:
        try:
            data: bytes = self._sock.recv(size)
            return data
        finally:
            # After the read: a publish between the two is in paho's queue,
            # which the network thread looks at before its next select().
            self._waker.pending = False

    def fileno(self) -> int:
        fileno: int = self._sock.fileno()
        return fileno

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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
    mid: int, topic: bytes, payload: bytes, *, qos: int, retain: bool, dup: bool, info: _Receipt
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
    message.properties = None
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
        return _BufferedSocket(super()._create_socket())

    def loop_start(self) -> MQTTErrorCode:
        rc = super().loop_start()
        reader, writer, thread = self._sockpairR, self._sockpairW, self._thread
        if rc == _OK and reader is not None and writer is not None and thread is not None:
            waker = _Waker(writer, thread.ident)
            # Same file descriptors: a select() already running is not disturbed.
            self._sockpairW = waker  # type: ignore[assignment]
            self._sockpairR = _WakeReader(reader, waker)  # type: ignore[assignment]
        return rc

    def publish_bytes(
        self, topic: bytes, payload: bytes, qos: int, retain: bool
    ) -> mqtt.MQTTMessageInfo:
        """paho's ``publish`` for a checked topic, a bytes payload and no properties.

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
            info.rc = self._send_publish(mid, topic, payload, 0, retain, False, info)
            return info
        message = _message(mid, topic, payload, qos=qos, retain=retain, dup=False, info=info)
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
            rc = self._send_publish(mid, topic, payload, qos, retain, False, info)
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
        if isinstance(sock, _BufferedSocket) and sock.full_duplex and self._out_packet:
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
        if not isinstance(sock, _BufferedSocket):
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
        return bool(self._out_packet) or (isinstance(sock, _BufferedSocket) and bool(sock.unsent))

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        try:
            rc = super().loop_read(max_packets)
            budget = _MAX_PACKETS
            sock: Any = self._sock
            # Packets already buffered are read now, not one per select().
            while rc == _OK and budget and isinstance(sock, _BufferedSocket) and sock.pending():
                rc = super().loop_read(max_packets)
                budget -= 1
                sock = self._sock
            return rc
        finally:
            hook = self.after_read
            if hook is not None:
                hook()
