"""The tests of the conformance suite (see :mod:`sinetstream.testing`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from sinetstream import (
    AT_LEAST_ONCE,
    AlreadyConnectedError,
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidMessageError,
    Message,
    MessageReader,
    MessageWriter,
    NotOpenError,
    SinetError,
)

from ._suite_ack import ManualAckTests
from ._suite_telemetry import TelemetryTests

if TYPE_CHECKING:
    from ._backend import Backend

_GCM = {
    "algorithm": "AES",
    "mode": "GCM",
    "key_length": 256,
    "password": "conformance-pw",
    "key_derivation": {"iteration": 1000},
}


def _require(backend: Backend, *features: str) -> None:
    missing = [f for f in features if f not in backend.features]
    if missing:
        pytest.skip(f"backend does not declare {', '.join(missing)}")


def _reader(backend: Backend, topics: Any, **kwargs: Any) -> MessageReader:
    params = {"receive_timeout_ms": backend.receive_timeout_ms, **backend.params, **kwargs}
    return MessageReader(None, topics, no_config=True, **params)


def _writer(backend: Backend, topic: str, **kwargs: Any) -> MessageWriter:
    return MessageWriter(None, topic, no_config=True, **{**backend.params, **kwargs})


def _collect(reader: MessageReader, count: int) -> list[Message]:
    got: list[Message] = []
    for message in reader:
        got.append(message)
        if len(got) >= count:
            break
    return got


class ConformanceSuite(ManualAckTests, TelemetryTests):
    """Subclass it and provide a ``backend`` fixture returning a :class:`Backend`."""

    @pytest.fixture
    def backend(self) -> Backend:
        """Override: describe the backend under test."""
        raise NotImplementedError(
            "define a 'backend' fixture returning sinetstream.testing.Backend"
        )

    @pytest.fixture
    def opened_reader(self, backend: Backend) -> Iterator[tuple[MessageReader, str]]:
        topic = backend.topic()
        reader = _reader(backend, topic)
        with reader:
            time.sleep(backend.settle_s)
            yield reader, topic

    # -- the message path -----------------------------------------------------------------------

    def test_bytes_round_trip(
        self, backend: Backend, opened_reader: tuple[MessageReader, str]
    ) -> None:
        reader, topic = opened_reader
        values = [b"", b"\x00\xff" * 3, bytes(range(256)), b"x" * 70_000]
        with _writer(backend, topic) as writer:
            for value in values:
                writer.publish(value)
        got = _collect(reader, len(values))
        assert sorted(m.value for m in got) == sorted(values)
        assert all(m.topic == topic for m in got)

    def test_text_and_timestamp(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic, value_type="text") as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, value_type="text") as writer:
                writer.publish("日本語 ✓", timestamp=1_700_000_000.25)
                before = time.time()
                writer.publish("now")
            got = {m.value: m for m in _collect(reader, 2)}
        assert got["日本語 ✓"].timestamp_us == 1_700_000_000_250_000
        assert got["日本語 ✓"].timestamp == pytest.approx(1_700_000_000.25)
        assert abs(got["now"].timestamp - before) < 5

    def test_encrypted_and_compressed(self, backend: Backend) -> None:
        topic = backend.topic()
        options = {
            "data_encryption": True,
            "crypto": _GCM,
            "data_compression": True,
            "compression": {"algorithm": "zstd"},
        }
        with _reader(backend, topic, **options) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, **options) as writer:
                writer.publish(b"secret " * 100)
            (message,) = _collect(reader, 1)
        assert message.value == b"secret " * 100
        metrics = reader.metrics
        assert metrics.msg_compressed_bytes_total < metrics.msg_uncompressed_bytes_total

    def test_at_least_once(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic, consistency=AT_LEAST_ONCE) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, consistency="AT_LEAST_ONCE") as writer:
                for i in range(20):
                    writer.publish(b"%d" % i)
            got = _collect(reader, 20)
        assert {m.value for m in got} == {b"%d" % i for i in range(20)}

    def test_ordering(self, backend: Backend, opened_reader: tuple[MessageReader, str]) -> None:
        _require(backend, "ordering")
        reader, topic = opened_reader
        with _writer(backend, topic) as writer:
            for i in range(200):
                writer.publish(b"%d" % i)
        assert [m.value for m in _collect(reader, 200)] == [b"%d" % i for i in range(200)]

    # -- iteration and timeouts -----------------------------------------------------------------

    def test_receive_timeout_ends_iteration(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic, receive_timeout_ms=300) as reader:
            start = time.monotonic()
            assert list(reader) == []
            elapsed = time.monotonic() - start
            assert reader.metrics.error_count_total == 0
        assert 0.25 <= elapsed < 0.3 + 5

    def test_iteration_resumes_after_timeout(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic, receive_timeout_ms=300) as reader:
            time.sleep(backend.settle_s)
            assert list(reader) == []
            with _writer(backend, topic) as writer:
                writer.publish(b"later")
            reader_params = reader.params
            deadline = time.monotonic() + backend.receive_timeout_ms / 1000 + 5
            got: list[bytes] = []
            while not got and time.monotonic() < deadline:
                got = [m.value for m in reader]
            assert got == [b"later"], reader_params["type"]

    # -- invalid messages -----------------------------------------------------------------------

    def test_invalid_message_raises_then_stream_continues(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, user_data_only=True) as raw_writer:
                raw_writer.publish(b"not a sinetstream message")
            with pytest.raises(InvalidMessageError):
                next(iter(reader))
            with _writer(backend, topic) as writer:
                writer.publish(b"good")
            assert [m.value for m in _collect(reader, 1)] == [b"good"]
            assert reader.metrics.error_count_total == 1

    def test_invalid_message_skipped_when_asked(self, backend: Backend) -> None:
        topic = backend.topic()
        with _reader(backend, topic, on_invalid_message="skip") as reader:
            time.sleep(backend.settle_s)
            with _writer(
                backend, topic, data_encryption=True, crypto={**_GCM, "password": "other"}
            ) as bad:
                bad.publish(b"wrong key")
            with _writer(backend, topic) as writer:
                writer.publish(b"good")
            assert [m.value for m in _collect(reader, 1)] == [b"good"]
            metrics = reader.metrics
        assert metrics.msg_count_total == 1
        assert metrics.error_count_total == 1

    # -- lifecycle ------------------------------------------------------------------------------

    def test_lifecycle(self, backend: Backend) -> None:
        topic = backend.topic()
        writer = _writer(backend, topic)
        with pytest.raises(NotOpenError):
            writer.publish(b"too early")
        writer.open()
        with pytest.raises(AlreadyConnectedError):
            writer.open()
        writer.close()
        writer.close()
        with pytest.raises(NotOpenError):
            writer.publish(b"too late")
        with writer:  # a closed object can be opened again
            writer.publish(b"again")

    def test_metrics(self, backend: Backend, opened_reader: tuple[MessageReader, str]) -> None:
        reader, topic = opened_reader
        with _writer(backend, topic) as writer:
            for size in (10, 100, 1000):
                writer.publish(b"m" * size)
            wm = writer.metrics
        _collect(reader, 3)
        rm = reader.metrics
        for m in (wm, rm):
            assert m.msg_count_total == 3
            assert m.msg_uncompressed_bytes_total == 1110
            assert m.msg_size_min is not None
            assert m.msg_size_max is not None
            assert m.msg_size_min < m.msg_size_max
            assert m.error_count_total == 0
        assert wm.msg_bytes_total == rm.msg_bytes_total
        reader.reset_metrics()
        assert reader.metrics.msg_count_total == 0

    # -- async API ------------------------------------------------------------------------------

    def test_async_writer_promise(
        self, backend: Backend, opened_reader: tuple[MessageReader, str]
    ) -> None:
        reader, topic = opened_reader
        with AsyncMessageWriter(None, topic, no_config=True, **backend.params) as writer:
            promises = [writer.publish(b"%d" % i) for i in range(50)]
            for p in promises:
                p.get(backend.receive_timeout_ms / 1000 + 10)
            assert all(p.is_fulfilled for p in promises)

            async def awaited() -> Any:
                return await writer.publish(b"awaited")

            asyncio.run(awaited())
        got = {m.value for m in _collect(reader, 51)}
        assert got == {b"%d" % i for i in range(50)} | {b"awaited"}

    def test_async_reader_callbacks(self, backend: Backend) -> None:
        topic = backend.topic()
        received: list[Message] = []
        done = threading.Event()

        def on_message(message: Message) -> None:
            received.append(message)
            if len(received) == 20:
                done.set()

        reader = AsyncMessageReader(None, topic, no_config=True, **backend.params)
        reader.on_message = on_message
        with reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic) as writer:
                for i in range(20):
                    writer.publish(b"%d" % i)
            assert done.wait(backend.receive_timeout_ms / 1000 + 10)
        values = [m.value for m in received]
        if "ordering" in backend.features:
            assert values == [b"%d" % i for i in range(20)]
        assert sorted(values) == sorted(b"%d" % i for i in range(20))

    def test_async_reader_reports_invalid_messages(self, backend: Backend) -> None:
        topic = backend.topic()
        failures: list[BaseException] = []
        received: list[bytes] = []
        done = threading.Event()
        reader = AsyncMessageReader(None, topic, no_config=True, **backend.params)
        reader.on_failure = lambda exc, tb: failures.append(exc)

        def on_message(message: Message) -> None:
            received.append(message.value)
            done.set()

        reader.on_message = on_message
        with reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, user_data_only=True) as raw_writer:
                raw_writer.publish(b"garbage")
            with _writer(backend, topic) as writer:
                writer.publish(b"good")
            assert done.wait(backend.receive_timeout_ms / 1000 + 10)
        assert received == [b"good"]
        assert len(failures) == 1
        assert isinstance(failures[0], InvalidMessageError)

    def test_async_for(self, backend: Backend) -> None:
        topic = backend.topic()

        async def main() -> list[bytes]:
            reader = AsyncMessageReader(
                None, topic, no_config=True, **{**backend.params, "receive_timeout_ms": 1500}
            )
            with reader:
                await asyncio.sleep(backend.settle_s)
                with AsyncMessageWriter(None, topic, no_config=True, **backend.params) as w:
                    for i in range(5):
                        await w.publish(b"%d" % i)
                return [m.value async for m in reader]

        got = asyncio.run(main())
        assert sorted(got) == [b"%d" % i for i in range(5)]

    # -- optional features ----------------------------------------------------------------------

    def test_persistence(self, backend: Backend) -> None:
        _require(backend, "persistence")
        topic = backend.topic()
        with _writer(backend, topic) as writer:
            writer.publish(b"early")
        with _reader(backend, topic) as reader:
            assert [m.value for m in _collect(reader, 1)] == [b"early"]

    def test_multiple_topics(self, backend: Backend) -> None:
        _require(backend, "multiple_topics")
        t1, t2 = backend.topic(), backend.topic()
        with _reader(backend, [t1, t2]) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, t1) as w1, _writer(backend, t2) as w2:
                w1.publish(b"one")
                w2.publish(b"two")
            got = {(m.topic, m.value) for m in _collect(reader, 2)}
        assert got == {(t1, b"one"), (t2, b"two")}

    def test_seek(self, backend: Backend) -> None:
        _require(backend, "seek", "persistence")
        topic = backend.topic()
        with _writer(backend, topic) as writer:
            writer.publish(b"a")
            writer.publish(b"b")
        with _reader(backend, topic) as reader:
            assert len(_collect(reader, 2)) == 2
            reader.seek_to_beginning()
            assert len(_collect(reader, 2)) == 2
            reader.seek_to_end()
            with _writer(backend, topic) as writer:
                writer.publish(b"c")
            assert [m.value for m in _collect(reader, 1)] == [b"c"]

    def test_wildcards(self, backend: Backend) -> None:
        _require(backend, "wildcards")
        assert backend.wildcard is not None
        base = backend.topic()
        with _reader(backend, backend.wildcard(base)) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, f"{base}/a") as wa, _writer(backend, f"{base}/b") as wb:
                wa.publish(b"a")
                wb.publish(b"b")
            got = {(m.topic, m.value) for m in _collect(reader, 2)}
        assert got == {(f"{base}/a", b"a"), (f"{base}/b", b"b")}

    def test_reconnect(self, backend: Backend) -> None:
        _require(backend, "reconnect")
        assert backend.restart is not None
        topic = backend.topic()
        sent: list[bytes] = []
        got: set[bytes] = set()
        with _reader(backend, topic, consistency=AT_LEAST_ONCE, receive_timeout_ms=500) as reader:
            time.sleep(backend.settle_s)
            with _writer(backend, topic, consistency=AT_LEAST_ONCE) as writer:
                for i in range(40):
                    if i == 20:
                        backend.restart()
                    value = b"%d" % i
                    deadline = time.monotonic() + 60
                    while True:
                        try:
                            writer.publish(value)
                        except SinetError:
                            if time.monotonic() > deadline:
                                raise
                            time.sleep(0.2)
                            continue
                        sent.append(value)
                        break
            deadline = time.monotonic() + 60
            while not set(sent) <= got and time.monotonic() < deadline:
                try:
                    got.update(m.value for m in reader)
                except SinetError:
                    time.sleep(0.2)
        assert set(sent) - got == set()
