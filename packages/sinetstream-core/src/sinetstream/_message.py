"""The message a reader hands to the user."""

from __future__ import annotations

from typing import Any

__all__ = ["Message"]


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
