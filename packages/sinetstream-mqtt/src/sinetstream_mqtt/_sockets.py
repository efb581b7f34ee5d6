"""The sockets under :class:`~._client.BufferedClient`: chunked reads, joined writes, one wake-up.

paho reads a packet with three or four ``recv`` calls (command byte, length
bytes, body) and goes back to ``select()`` after every packet. Each of those
system calls releases the GIL, which hands it to whichever thread wants it
(the thread iterating the reader, the one publishing): per message, a few
thread switches that cost more than the message itself. :class:`BufferedSocket`
reads 64 KiB at a time into a buffer that paho's small reads are served from.

paho writes every queued packet with its own ``send`` (on each PUBACK the
network thread sends the next message of its queue: at QoS 1, a system call
per message). Between :meth:`BufferedSocket.hold` and
:meth:`BufferedSocket.flush` the packets are joined and sent at once (up to
64 KiB; a larger packet is sent as it is); bytes the kernel did not take are
sent first on the next pass. Closing the socket sends what is held first
(paho's DISCONNECT is one of those packets).

paho also wakes its network thread for every packet it queues, by writing a
byte to a socket pair, even when that thread is busy or is the one queueing.
:class:`Waker` writes a wake-up byte only when none is pending and the caller
is another thread: one system call per burst of publishes instead of one per
message.

The buffered socket keeps paho's socket contract: ``recv``/``send``/``fileno``
and a ``pending()`` count of bytes buffered above the kernel (what paho asks of
TLS sockets); anything else is the wrapped socket's own.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["BufferedSocket", "WakeReader", "Waker"]

# Bytes asked of the kernel per recv: a burst of about 60 one-KiB messages.
_CHUNK = 65536
# Bytes of queued packets joined into one send().
_WRITE_BATCH = 65536
# How long closing the socket waits for held bytes to drain.
_CLOSE_DRAIN_S = 1.0
# What a non-blocking send raises when the kernel (or TLS) cannot take more now.
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class BufferedSocket:
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


class Waker:
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


class WakeReader:
    """paho's socket pair, reading side: draining it re-arms the waker."""

    __slots__ = ("_sock", "_waker")

    def __init__(self, sock: Any, waker: Waker) -> None:
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
