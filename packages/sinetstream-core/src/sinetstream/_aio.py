"""The asyncio adapter: ``async for message in async_reader``.

An :class:`~sinetstream.AsyncMessageReader` is pushed messages by its
backend's thread through ``on_message`` / ``on_failure``. For the length of
one ``async for`` this adapter puts its own callbacks there, which hand each
message (or failure) to the event loop's queue; the previous callbacks are
put back when the loop ends. Imported on first ``async for`` only, so
``import sinetstream`` does not load asyncio.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Protocol

from ._message import Message

__all__ = ["CallbackReader", "iterate_messages"]


class CallbackReader(Protocol):
    """What the adapter needs of a reader: its two callbacks and its timeout."""

    on_message: Callable[[Message], None] | None
    on_failure: Callable[[BaseException, TracebackType | None], None] | None

    @property
    def receive_timeout_ms(self) -> float:
        """Iteration ends after this many milliseconds without a message."""
        ...

    def _require_open(self) -> Any: ...


async def iterate_messages(reader: CallbackReader) -> AsyncIterator[Message]:
    """Yield the reader's messages; raise its failures; end after its receive timeout."""
    reader._require_open()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
    previous_message, previous_failure = reader.on_message, reader.on_failure

    def put(item: Message | BaseException) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def failed(error: BaseException, tb: TracebackType | None) -> None:
        put(error)

    reader.on_failure = failed
    reader.on_message = put
    timeout_ms = reader.receive_timeout_ms
    timeout = None if math.isinf(timeout_ms) else timeout_ms / 1000
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.on_failure = previous_failure
        reader.on_message = previous_message
