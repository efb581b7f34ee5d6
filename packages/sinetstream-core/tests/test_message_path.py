"""One path from received bytes to a Message, for both readers and the stand-alone decoder.

The sync reader, the async reader and ``SINETStreamMessageDecoder`` build the
same :class:`Message` from the same bytes; a ``user_data_only`` message takes
the timestamp its backend attached (``PluginMessage.timestamp``), and the three
agree on what counts as one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sinetstream import (
    AsyncMessageReader,
    Message,
    MessageReader,
    SINETStreamMessageDecoder,
    SINETStreamMessageEncoder,
)
from sinetstream.spi import AsyncReaderBase, PluginMessage

#: What the plugins hand over; set by each test.
ITEMS: list[bytes] = []


class _NoConnection:
    def __init__(self, params: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


class ListReader(_NoConnection):
    """A sync reader plugin that yields ``ITEMS`` once."""

    def __iter__(self) -> Iterator[tuple[bytes, str, bytes]]:
        for data in ITEMS:
            yield data, "t", data


class ListAsyncReader(_NoConnection, AsyncReaderBase):
    """An async reader plugin that delivers ``ITEMS`` once ``on_message`` is set."""

    def _on_message_changed(self) -> None:
        if self.on_message is not None:
            for data in ITEMS:
                self.deliver(data, "t", data)


@pytest.fixture
def backend() -> Iterator[str]:
    name = f"list-{uuid.uuid4().hex[:8]}"
    MessageReader.registry.register(name, ListReader)
    AsyncMessageReader.registry.register(name, ListAsyncReader)
    yield name
    MessageReader.registry.unregister(name)
    AsyncMessageReader.registry.unregister(name)


def _three_ways(backend: str, params: dict[str, Any]) -> list[list[tuple[Any, ...]]]:
    """``(value, timestamp_us, raw)`` of each item: sync reader, async reader, decoder."""

    def seen(messages: list[Message]) -> list[tuple[Any, ...]]:
        return [(m.value, m.timestamp_us, m.raw) for m in messages]

    with MessageReader(no_config=True, type=backend, topics="t", **params) as reader:
        sync = list(reader)
    got: list[Message] = []
    done = threading.Event()

    def on_message(message: Message) -> None:
        got.append(message)
        if len(got) == len(ITEMS):
            done.set()

    with AsyncMessageReader(no_config=True, type=backend, topics="t", **params) as reader:
        reader.on_message = on_message
        assert done.wait(5)
    assert {m.topic for m in sync + got} == {"t"}
    with SINETStreamMessageDecoder(**params) as decoder:
        standalone = [decoder.decode(data) for data in ITEMS]
    assert {m.topic for m in standalone} == {None}
    return [seen(sync), seen(got), seen(standalone)]


class OddStamp(bytes):
    """Received bytes whose backend attached something other than an integer."""

    timestamp: Any = None


def test_the_three_build_the_same_message(backend: str) -> None:
    with SINETStreamMessageEncoder(value_type="text") as encoder:
        ITEMS[:] = [encoder.encode("one", 1.5), encoder.encode("two", 2.0)]
    sync, callback, standalone = _three_ways(backend, {"value_type": "text"})
    assert sync == callback == standalone
    assert sync == [("one", 1_500_000, ITEMS[0]), ("two", 2_000_000, ITEMS[1])]


def test_user_data_only_takes_the_attached_timestamp_the_same_way(backend: str) -> None:
    odd = OddStamp(b"odd")
    odd.timestamp = "yesterday"
    flag = OddStamp(b"flag")
    flag.timestamp = True
    ITEMS[:] = [PluginMessage(b"stamped", 77), b"plain", odd, flag]
    sync, callback, standalone = _three_ways(backend, {"user_data_only": True})
    assert sync == callback == standalone
    # Only an integer is a timestamp: the readers took any value (the decoder did not).
    assert [(value, ts) for value, ts, _ in sync] == [
        (b"stamped", 77),
        (b"plain", 0),
        (b"odd", 0),
        (b"flag", 0),
    ]
