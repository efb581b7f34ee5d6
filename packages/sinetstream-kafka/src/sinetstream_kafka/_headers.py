"""Message headers (``PluginMessage.headers``, the SPI's headers hook) as Kafka record headers.

The writer adds the headers the core set on a message to those given with
``publish(..., headers=...)``; the reader hands a record's headers back on the
payload. The record value is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sinetstream.spi import PluginMessage

__all__ = ["record_payload", "with_carried"]


def with_carried(
    given: Mapping[str, Any] | Iterable[tuple[str, Any]] | None, carried: Mapping[str, str]
) -> list[tuple[str, Any]]:
    """The user's ``headers`` followed by those a message carries (the trace context)."""
    items = [] if given is None else list(given.items() if isinstance(given, Mapping) else given)
    return [*items, *carried.items()]


def record_payload(record: Any) -> bytes:
    """A ConsumerRecord's value; with record headers, a PluginMessage carrying them as text."""
    value = record.value
    payload: bytes = value if value is not None else b""
    headers = record.headers
    if not headers:
        return payload
    message = PluginMessage(payload)
    message.headers = {
        name: raw.decode("utf-8", "replace") for name, raw in headers if raw is not None
    }
    return message
