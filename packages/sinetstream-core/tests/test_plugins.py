"""Plugins installed as their own distributions: v1.2-guide ones, 1.10 ones, broken ones."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidMessageError,
    Message,
    MessageReader,
    MessageWriter,
    UnsupportedServiceTypeError,
    _registry,
)

# A backend written from the v1.2 plugin guide alone: constructor (params), a
# module-level dict of queues, StopIteration raised inside the generator, the
# async writer returning Promise.cast(future).
GUIDE_PLUGIN = """
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from math import inf
from queue import Empty, Queue

from promise import Promise
from sinetstream import InvalidArgumentError
from sinetstream.spi import (PluginAsyncMessageReader, PluginAsyncMessageWriter,
                             PluginMessageReader, PluginMessageWriter)

queues = defaultdict(Queue)


class GuideWriter(PluginMessageWriter):
    def __init__(self, params):
        self._queue = None
        self._topic = params.get('topic')
        if self._topic is None or not isinstance(self._topic, str):
            raise InvalidArgumentError()

    def open(self):
        self._queue = queues[self._topic]

    def close(self):
        self._queue = None

    def publish(self, value):
        self._queue.put(value)


class GuideReader(PluginMessageReader):
    def __init__(self, params):
        self._queue = None
        self._topic = params.get('topic')
        if self._topic is None or not isinstance(self._topic, str):
            raise InvalidArgumentError()
        timeout_ms = params.get('receive_timeout_ms', inf)
        self._timeout = timeout_ms / 1000.0 if timeout_ms != inf else None

    def open(self):
        self._queue = queues[self._topic]

    def close(self):
        self._queue = None

    def __iter__(self):
        while True:
            try:
                value = self._queue.get(timeout=self._timeout)
                yield value, self._topic, value
            except Empty:
                raise StopIteration()


class GuideAsyncWriter(PluginAsyncMessageWriter):
    def __init__(self, params):
        self._queue = None
        self._topic = params.get('topic')
        self._executor = None

    def open(self):
        self._executor = ThreadPoolExecutor()
        self._queue = queues[self._topic]

    def close(self):
        self._queue = None
        self._executor.shutdown()

    def publish(self, value):
        future = self._executor.submit(lambda: self._queue.put(value))
        return Promise.cast(future)


class GuideAsyncReader(PluginAsyncMessageReader):
    def __init__(self, params):
        self._queue = None
        self._topic = params.get('topic')
        self._on_message = None
        self._on_failure = None
        self._reader_executor = None
        self._future = None
        self._closed = True

    def open(self):
        if self._closed:
            self._queue = queues[self._topic]
            self._reader_executor = ThreadPoolExecutor(max_workers=1)
            self._closed = False
            self._future = self._reader_executor.submit(self._reader_loop)

    def _reader_loop(self):
        while not self._closed:
            try:
                value = self._queue.get(timeout=0.1)
                if self._on_message is not None:
                    self._on_message(value, self._topic, value)
            except Empty:
                pass

    def close(self):
        if not self._closed:
            self._closed = True
            self._future.cancel()
            self._reader_executor.shutdown()

    @property
    def on_message(self):
        return self._on_message

    @on_message.setter
    def on_message(self, on_message):
        self._on_message = on_message

    @property
    def on_failure(self):
        return self._on_failure

    @on_failure.setter
    def on_failure(self, on_failure):
        self._on_failure = on_failure
"""

# A backend in the SINETStream 1.10 style: constructor (confver, params), no
# SPI base classes, parameters read from type_spec in a version 3 config.
V110_PLUGIN = """
import queue

store = {}


class Writer:
    def __init__(self, confver, params):
        spec = params["type_spec"] if confver.type_spec() else params
        self.prefix = spec["prefix"]
        self.topic = params["topic"]

    def open(self):
        pass

    def close(self):
        pass

    def publish(self, message):
        store.setdefault(self.prefix + self.topic, queue.Queue()).put(bytes(message))
        return "stored"

    def metrics(self):
        return {"custom": 1}

    def reset_metrics(self):
        pass


class Reader:
    def __init__(self, confver, params):
        spec = params["type_spec"] if confver.type_spec() else params
        self.key = spec["prefix"] + params["topics"][0]
        self.timeout = params["receive_timeout_ms"] / 1000

    def open(self):
        self.q = store.setdefault(self.key, queue.Queue())

    def close(self):
        pass

    def __iter__(self):
        while True:
            try:
                data = self.q.get(timeout=self.timeout)
            except queue.Empty:
                return
            if data is None:  # stored by a test: a message this backend cannot hand over
                from sinetstream.error import InvalidMessageError

                raise InvalidMessageError("a damaged message in the store")
            yield data, "topic", None

    def metrics(self):
        return None

    def reset_metrics(self):
        pass
"""

BROKEN_PLUGIN = """
class NoPublish:
    def __init__(self, params):
        pass

    def open(self):
        pass

    def close(self):
        pass
"""


def _install(site: Path, dist: str, module: str, source: str, entry_points: str) -> None:
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site"
    site.mkdir()
    _install(
        site,
        "sinetstream-guidequeue",
        "guide_plugin",
        GUIDE_PLUGIN,
        """\
        [sinetstream.reader]
        guidequeue = guide_plugin:GuideReader
        [sinetstream.writer]
        guidequeue = guide_plugin:GuideWriter
        [sinetstream.async_reader]
        guidequeue = guide_plugin:GuideAsyncReader
        [sinetstream.async_writer]
        guidequeue = guide_plugin:GuideAsyncWriter
        """,
    )
    _install(
        site,
        "sinetstream-oldstyle",
        "v110_plugin",
        V110_PLUGIN,
        """\
        [sinetstream.reader]
        oldstyle = v110_plugin:Reader
        [sinetstream.writer]
        oldstyle = v110_plugin:Writer
        """,
    )
    _install(
        site,
        "sinetstream-broken",
        "broken_plugin",
        BROKEN_PLUGIN,
        """\
        [sinetstream.writer]
        broken = broken_plugin:NoPublish
        missing = broken_plugin:DoesNotExist
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    _registry._registries.clear()
    yield
    _registry._registries.clear()


@pytest.mark.usefixtures("plugins")
def test_guide_plugin_sync_classes() -> None:
    opts = {"no_config": True, "type": "guidequeue", "value_type": "text"}
    with MessageReader(None, "g1", receive_timeout_ms=200, **opts) as reader:
        with MessageWriter(None, "g1", **opts) as writer:
            writer.publish("hello", timestamp=12.5)
        got = list(reader)  # the guide's generator raises StopIteration: a clean end
    assert [(m.value, m.timestamp, m.topic) for m in got] == [("hello", 12.5, "g1")]
    assert reader.metrics.error_count_total == 0


@pytest.mark.usefixtures("plugins")
def test_guide_plugin_async_classes() -> None:
    opts = {"no_config": True, "type": "guidequeue"}
    received: list[Message] = []
    done = threading.Event()

    def on_message(m: Message) -> None:
        received.append(m)
        done.set()

    reader = AsyncMessageReader(None, "g2", **opts)
    reader.on_message = on_message
    with reader, AsyncMessageWriter(None, "g2", **opts) as writer:
        writer.publish(b"async").get(5)
        assert done.wait(5)
    assert [m.value for m in received] == [b"async"]


@pytest.mark.usefixtures("plugins")
def test_110_constructor_and_type_spec() -> None:
    opts = {"no_config": True, "type": "oldstyle", "type_spec": {"prefix": "p/"}}
    with MessageReader(None, "t", receive_timeout_ms=100, **opts) as reader:
        with MessageWriter(None, "t", **opts) as writer:
            assert writer.publish(b"x") == "stored"
            assert writer.metrics.raw == {"custom": 1}
        assert [m.value for m in reader] == [b"x"]


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("on_invalid", ["raise", "skip"])
def test_an_invalid_message_raised_by_a_backend_counts_and_can_be_skipped(on_invalid: str) -> None:
    opts = {"no_config": True, "type": "oldstyle", "type_spec": {"prefix": "p/"}}
    topic = f"bad-{on_invalid}"
    with MessageReader(None, topic, receive_timeout_ms=100, on_invalid_message=on_invalid,
                       **opts) as reader:  # fmt: skip
        with MessageWriter(None, topic, **opts) as writer:
            writer.publish(b"before")
            import v110_plugin  # type: ignore[import-not-found]  # written by the fixture

            v110_plugin.store[f"p/{topic}"].put(None)
            writer.publish(b"after")
        if on_invalid == "raise":
            it = iter(reader)
            assert next(it).value == b"before"
            with pytest.raises(InvalidMessageError, match="damaged"):
                next(it)
            assert [m.value for m in reader] == [b"after"]
        else:
            assert [m.value for m in reader] == [b"before", b"after"]
        assert reader.metrics.invalid_message_count_total == 1
        assert reader.metrics.error_count_total == 1


@pytest.mark.usefixtures("plugins")
def test_incomplete_plugin_names_distribution_entry_point_and_member() -> None:
    with pytest.raises(UnsupportedServiceTypeError) as info:
        MessageWriter(None, "t", no_config=True, type="broken")
    text = str(info.value)
    assert "sinetstream-broken" in text
    assert "broken = broken_plugin:NoPublish" in text
    assert "publish" in text


@pytest.mark.usefixtures("plugins")
def test_unloadable_plugin_names_it() -> None:
    with pytest.raises(
        UnsupportedServiceTypeError, match=r"missing = broken_plugin:DoesNotExist.*failed to load"
    ):
        MessageWriter(None, "t", no_config=True, type="missing")


@pytest.mark.usefixtures("plugins")
def test_plugin_listing() -> None:
    infos = {p.name: p for p in _registry.registry("writer").plugins()}
    assert infos["guidequeue"].distribution == "sinetstream-guidequeue"
    assert infos["guidequeue"].version == "1.2.0"
    assert "queue" in infos


def test_registered_class_and_loader_object() -> None:
    class Loader:
        @staticmethod
        def load() -> type:
            import sinetstream_queue

            return sinetstream_queue.QueueWriter

    reg = _registry.registry("writer")
    reg.register("via-loader", Loader())
    try:
        with MessageWriter(None, "t", no_config=True, type="via-loader", brokers="reg") as w:
            w.publish(b"ok")
    finally:
        reg.unregister("via-loader")
