"""The message a reader hands to the user, and the one path that builds it.

:func:`decode_message` turns received bytes into a :class:`Message` for the
sync reader, the async reader and the stand-alone
``SINETStreamMessageDecoder`` alike. The timestamp comes from the wire bytes;
a ``user_data_only`` message has none there, and takes the one a backend
attached to the bytes (:func:`attached_timestamp`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._metrics import MetricsRecorder

__all__ = ["Message", "attached_timestamp", "decode_message"]

_new_object = object.__new__


class Message:
    """A received message: its value, topic, timestamp and the backend's raw object.

    ``timestamp`` is seconds since the epoch as a float (0 when the writer sent
    none, e.g. with ``user_data_only``); ``timestamp_us`` is the exact integer
    in microseconds. ``raw`` is the backend's own message object (a Kafka
    ``ConsumerRecord``, a paho ``MQTTMessage``, ...).
    """

    __slots__ = ("_raw", "_timestamp_us", "_topic", "_value")

    #: The ``timestamp_us`` of a message that carries no timestamp.
    NOTSTAMP = 0

    def __init__(self, value: Any, topic: str | None, tstamp_us: int, raw: Any) -> None:
        self._value = value
        self._topic = topic
        self._timestamp_us = tstamp_us
        self._raw = raw

    @property
    def value(self) -> Any:
        """The payload, after decryption, decompression and deserialization."""
        return self._value

    @property
    def topic(self) -> str | None:
        """The topic the message arrived on."""
        return self._topic

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch when the writer published (0 if unknown)."""
        return self._timestamp_us / 1_000_000

    @property
    def timestamp_us(self) -> int:
        """Microseconds since the epoch when the writer published (0 if unknown)."""
        return self._timestamp_us

    @property
    def raw(self) -> Any:
        """The backend's own message object."""
        return self._raw

    def __repr__(self) -> str:
        return (
            f"Message(value={self._value!r}, topic={self._topic!r}, "
            f"tstamp={self._timestamp_us}, raw={self._raw!r})"
        )


def decode_message(
    decode: Callable[[bytes], tuple[Any, int, int, int]],
    data: bytes,
    topic: str | None,
    raw: Any,
    metrics: MetricsRecorder | None = None,
) -> Message:
    """The :class:`Message` of received ``data``, counted in ``metrics`` if given.

    ``decode`` is a ``Decoder.decode``; its :class:`InvalidMessageError` passes through.
    """
    value, timestamp_us, uncompressed, compressed = decode(data)
    if metrics is not None:
        metrics.message(len(data), uncompressed, compressed)
    # Message(value, topic, timestamp_us, raw) without a call of __init__ (per message).
    message: Message = _new_object(Message)
    message._value = value
    message._topic = topic
    message._timestamp_us = timestamp_us
    message._raw = raw
    return message


def attached_timestamp(data: object) -> int:
    """The µs timestamp attached to received bytes (``PluginMessage.timestamp``), else 0.

    The one way a timestamp travels beside the wire bytes rather than in them:
    a writer sets it on the ``PluginMessage`` it hands its backend, and a
    reader backend may yield a ``PluginMessage`` with the one it received
    (what a ``user_data_only`` message, which has none inside, is given).
    Anything but an integer counts as none.
    """
    stamp = getattr(data, "timestamp", 0)
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else 0
