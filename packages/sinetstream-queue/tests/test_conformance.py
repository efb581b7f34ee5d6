"""The backend conformance suite, run on the embedded queue backend.

It runs twice: on the queue's own classes (whose async reader is built on
``spi.AsyncReaderBase``) and on an async reader written to the v1.2 plugin
guide, which implements the ``on_message`` / ``on_failure`` properties itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import pytest
from sinetstream import AsyncMessageReader, AsyncMessageWriter, MessageReader, MessageWriter
from sinetstream.spi import ConfigVersion, PluginAsyncMessageReader
from sinetstream.testing import Backend, ConformanceSuite
from sinetstream_queue import QueueAsyncWriter, QueueReader, QueueWriter

FEATURES = {"ordering", "persistence", "multiple_topics", "manual_ack", "headers"}


class TestQueueConformance(ConformanceSuite):
    @pytest.fixture
    def backend(self) -> Backend:
        return Backend(
            params={"type": "queue", "brokers": f"conformance-{uuid.uuid4().hex}"},
            features=FEATURES,
            receive_timeout_ms=2000,
        )


class GuideStyleAsyncReader(PluginAsyncMessageReader):
    """An async reader as the v1.2 guide writes one: its own properties and guard."""

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        self._reader = QueueReader(confver, {**params, "receive_timeout_ms": 100})
        self._on_message: Callable[[bytes, str | None, Any], None] | None = None
        self._on_failure: Callable[[BaseException, TracebackType | None], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        self._reader.open()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            messages: Iterator[tuple[bytes, str | None, Any]] = iter(self._reader)
            for payload, topic, raw in messages:
                if self._on_message is None:
                    continue
                try:
                    self._on_message(payload, topic, raw)
                except Exception as exc:
                    if self._on_failure is not None:
                        self._on_failure(exc, exc.__traceback__)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._reader.close()

    @property
    def on_message(self) -> Callable[[bytes, str | None, Any], None] | None:
        return self._on_message

    @on_message.setter
    def on_message(self, callback: Callable[[bytes, str | None, Any], None] | None) -> None:
        self._on_message = callback

    @property
    def on_failure(self) -> Callable[[BaseException, TracebackType | None], None] | None:
        return self._on_failure

    @on_failure.setter
    def on_failure(
        self, callback: Callable[[BaseException, TracebackType | None], None] | None
    ) -> None:
        self._on_failure = callback


@pytest.fixture
def guide_style() -> Iterator[str]:
    name = "queue-guide-style"
    plugins: list[tuple[Any, type]] = [
        (MessageReader, QueueReader),
        (MessageWriter, QueueWriter),
        (AsyncMessageReader, GuideStyleAsyncReader),
        (AsyncMessageWriter, QueueAsyncWriter),
    ]
    for api, plugin in plugins:
        api.registry.register(name, plugin)
    yield name
    for api, _ in plugins:
        api.registry.unregister(name)


class TestGuideStyleAsyncReaderConformance(ConformanceSuite):
    @pytest.fixture
    def backend(self, guide_style: str) -> Backend:
        return Backend(
            params={"type": guide_style, "brokers": f"conformance-{uuid.uuid4().hex}"},
            features=FEATURES,
            receive_timeout_ms=2000,
        )
