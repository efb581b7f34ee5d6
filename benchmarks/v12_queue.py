"""A third-party backend as a plugin author writes it from the v1.2 plugin guide (§4).

``type: v12queue``: one ``queue.Queue`` per topic in a module-level dict, the
constructor ``(params)``, a writer that ``put``s, a reader that ``get``s with
the receive timeout, an async writer that hands each ``put`` to a thread pool
and returns ``Promise.cast(future)``, and an async reader with one thread
calling ``on_message``. Nothing is tuned: the bench measures what the core
adds around a plain plugin, ours and the reference 1.10 on the same code.

The reference 1.10 constructs plugins as ``cls(confver, params)`` only (its
guide still shows ``(params)``), so ``driver.py`` registers the ``*For110``
subclasses for it, which take that signature and call the same constructor.
Registration is an entry-point file that ``driver.py`` writes under
``.bench/`` and puts on ``sys.path`` before ``sinetstream`` is imported.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from math import inf
from queue import Empty, Queue
from typing import Any

from promise import Promise
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import (
    PluginAsyncMessageReader,
    PluginAsyncMessageWriter,
    PluginMessageReader,
    PluginMessageWriter,
)

#: The entry-point name (``type:``) of this backend.
TYPE = "v12queue"

queues: defaultdict[str, Queue[bytes]] = defaultdict(Queue)


def _topic(params: dict[str, Any]) -> str:
    topic = params.get("topic")
    if topic is None:  # a reader of the reference gets only ``topics``
        topics = params.get("topics")
        topic = topics[0] if isinstance(topics, list) and len(topics) == 1 else topics
    if topic is None or not isinstance(topic, str):
        raise InvalidArgumentError("topic: one topic name is needed")
    return topic


class QueueWriter(PluginMessageWriter):
    """Puts each message on the topic's queue."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._queue: Queue[bytes] | None = None
        self._topic = _topic(params)

    def open(self) -> None:
        self._queue = queues[self._topic]

    def close(self) -> None:
        self._queue = None

    def publish(self, value: bytes) -> None:
        assert self._queue is not None
        self._queue.put(value)


class QueueReader(PluginMessageReader):
    """Gets messages from the topic's queue until ``receive_timeout_ms`` passes without one."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._queue: Queue[bytes] | None = None
        self._topic = _topic(params)
        timeout_ms = params.get("receive_timeout_ms", inf)
        self._timeout = timeout_ms / 1000.0 if timeout_ms != inf else None

    def open(self) -> None:
        self._queue = queues[self._topic]

    def close(self) -> None:
        self._queue = None

    def __iter__(self) -> Iterator[tuple[bytes, str, bytes]]:
        assert self._queue is not None
        while True:
            try:
                value = self._queue.get(timeout=self._timeout)
            except Empty:
                return
            yield value, self._topic, value


class QueueAsyncWriter(PluginAsyncMessageWriter):
    """Hands each ``put`` to a thread pool; returns a Promise of it."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._queue: Queue[bytes] | None = None
        self._topic = _topic(params)
        self._executor: ThreadPoolExecutor | None = None

    def open(self) -> None:
        self._executor = ThreadPoolExecutor()
        self._queue = queues[self._topic]

    def close(self) -> None:
        self._queue = None
        if self._executor is not None:
            self._executor.shutdown()

    def publish(self, value: bytes) -> Any:
        assert self._executor is not None
        assert self._queue is not None
        queue = self._queue
        return Promise.cast(self._executor.submit(lambda: queue.put(value)))


class QueueAsyncReader(PluginAsyncMessageReader):
    """One thread gets messages from the queue and calls ``on_message``."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._queue: Queue[bytes] | None = None
        self._topic = _topic(params)
        self._on_message: Callable[..., None] | None = None
        self._on_failure: Callable[..., None] | None = None
        self._thread: threading.Thread | None = None
        self._closed = True

    def open(self) -> None:
        if self._closed:
            self._queue = queues[self._topic]
            self._closed = False
            self._thread = threading.Thread(target=self._reader_loop, daemon=True)
            self._thread.start()

    def _reader_loop(self) -> None:
        queue = self._queue
        assert queue is not None
        while not self._closed:
            try:
                value = queue.get(timeout=0.1)
            except Empty:
                continue
            if self._on_message is not None:
                self._on_message(value, self._topic, value)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._thread is not None:
                self._thread.join()
            self._queue = None

    @property
    def on_message(self) -> Callable[..., None] | None:
        return self._on_message

    @on_message.setter
    def on_message(self, on_message: Callable[..., None] | None) -> None:
        self._on_message = on_message

    @property
    def on_failure(self) -> Callable[..., None] | None:
        return self._on_failure

    @on_failure.setter
    def on_failure(self, on_failure: Callable[..., None] | None) -> None:
        self._on_failure = on_failure


def _for_110(cls: type[Any]) -> type[Any]:
    """``cls`` with the constructor the reference 1.10 calls, ``(confver, params)``."""

    def __init__(self: Any, confver: Any, params: dict[str, Any]) -> None:
        cls.__init__(self, params)

    name = f"{cls.__name__}For110"
    return type(name, (cls,), {"__init__": __init__, "__qualname__": name, "__doc__": cls.__doc__})


QueueWriterFor110 = _for_110(QueueWriter)
QueueReaderFor110 = _for_110(QueueReader)
QueueAsyncWriterFor110 = _for_110(QueueAsyncWriter)
QueueAsyncReaderFor110 = _for_110(QueueAsyncReader)
