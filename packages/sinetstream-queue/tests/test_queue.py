"""Behaviour specific to the queue backend: bounds, backpressure, isolation, threads."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest
import sinetstream_queue
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidArgumentError,
    MessageReader,
    MessageWriter,
    SinetError,
)


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex}"


def _writer(name: str, topic: str = "t", **spec: object) -> MessageWriter:
    return MessageWriter(None, topic, no_config=True, type="queue", brokers=name, type_spec=spec)


def _reader(name: str, topics: object = "t", timeout: int = 200, **spec: object) -> MessageReader:
    return MessageReader(
        None,
        topics,
        no_config=True,
        type="queue",
        brokers=name,
        receive_timeout_ms=timeout,
        type_spec=spec,
    )


def test_every_reader_gets_every_message(name: str) -> None:
    with _reader(name) as r1, _reader(name) as r2, _writer(name) as w:
        for i in range(10):
            w.publish(b"%d" % i)
        assert [m.value for m in r1] == [b"%d" % i for i in range(10)]
        assert [m.value for m in r2] == [b"%d" % i for i in range(10)]


def test_broker_names_are_isolated(name: str) -> None:
    with _reader(name) as r, _writer(f"{name}-other") as w:
        w.publish(b"elsewhere")
        assert list(r) == []


def test_full_topic_applies_backpressure_then_times_out(name: str) -> None:
    with _reader(name, maxsize=3) as r, _writer(name, maxsize=3, publish_timeout_ms=300) as w:
        for i in range(3):
            w.publish(b"%d" % i)
        start = time.monotonic()
        with pytest.raises(sinetstream_queue.QueueFullError, match="maxsize"):
            w.publish(b"blocked")
        assert time.monotonic() - start >= 0.25
        assert w.metrics.error_count_total == 1
        # Reading makes room; nothing accepted was lost.
        assert [m.value for m in r] == [b"0", b"1", b"2"]
        w.publish(b"3")
        assert [m.value for m in r] == [b"3"]


def test_blocked_publish_resumes_when_the_reader_catches_up(name: str) -> None:
    with (
        _reader(name, maxsize=2, timeout=2000) as r,
        _writer(name, maxsize=2, publish_timeout_ms=5000) as w,
    ):

        def produce() -> None:
            for i in range(50):
                w.publish(b"%d" % i)

        t = threading.Thread(target=produce)
        t.start()
        got = []
        for m in r:
            got.append(m.value)
            if len(got) == 50:
                break
        t.join()
    assert got == [b"%d" % i for i in range(50)]


def test_async_writer_keeps_order_through_a_full_topic(name: str) -> None:
    with _reader(name, maxsize=5, timeout=2000) as r:
        w = AsyncMessageWriter(
            None,
            "t",
            no_config=True,
            type="queue",
            brokers=name,
            type_spec={"maxsize": 5, "publish_timeout_ms": 5000},
        )
        with w:
            promises = [w.publish(b"%d" % i) for i in range(100)]  # never blocks
            got = []
            for m in r:
                got.append(m.value)
                if len(got) == 100:
                    break
            assert all(p.get(5) is not None for p in promises)
    assert got == [b"%d" % i for i in range(100)]


def test_async_writer_rejects_when_the_topic_stays_full(name: str) -> None:
    w = AsyncMessageWriter(
        None,
        "t",
        no_config=True,
        type="queue",
        brokers=name,
        type_spec={"maxsize": 1, "publish_timeout_ms": 100},
    )
    with _reader(name, maxsize=1), w:
        assert w.publish(b"fits").get(1)
        p = w.publish(b"no room")
        with pytest.raises(SinetError, match="full"):
            p.get(5)
        assert p.is_rejected
    assert w.metrics.error_count_total == 1


def test_async_reader_thread_stops_on_close(name: str) -> None:
    reader = AsyncMessageReader(None, "t", no_config=True, type="queue", brokers=name)
    reader.on_message = lambda m: None
    before = threading.active_count()
    reader.open()
    assert threading.active_count() == before + 1
    reader.close()
    assert threading.active_count() == before


def test_async_reader_survives_a_failing_on_failure(name: str) -> None:
    # The plugin used directly: on_message and on_failure both raise, and the
    # delivery thread still hands over the next message.
    from sinetstream.spi import ConfigVersion

    reader = sinetstream_queue.QueueAsyncReader(
        ConfigVersion(3), {"topics": ["t"], "topic": "t", "brokers": name}
    )
    seen: list[bytes] = []
    failures: list[BaseException] = []

    def on_message(value: bytes, topic: str | None, raw: object) -> None:
        seen.append(bytes(value))
        raise ValueError("user bug")

    def on_failure(exc: BaseException, tb: object) -> None:
        failures.append(exc)
        raise RuntimeError("handler bug")

    reader.on_message = on_message
    reader.on_failure = on_failure
    reader.open()
    try:
        with _writer(name) as w:
            w.publish(b"one")
            w.publish(b"two")
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        reader.close()
    assert len(seen) == 2
    assert [type(e) for e in failures] == [ValueError, ValueError]
    assert reader.callback_errors == 2


def test_reset_empties_the_default_broker() -> None:
    with _writer("default", "reset-topic") as w:
        w.publish(b"old")
    sinetstream_queue.reset("default")
    with _reader("default", "reset-topic") as r:
        assert list(r) == []


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"maxsize": 0}, "maxsize"),
        ({"maxsize": "big"}, "maxsize"),
        ({"publish_timeout_ms": -1}, "publish_timeout_ms"),
    ],
)
def test_bad_parameters(name: str, spec: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        _writer(name, **spec)


def test_nan_publish_timeout_is_rejected(name: str) -> None:
    # NaN once passed every comparison and meant "do not wait at all".
    with pytest.raises(InvalidArgumentError, match=r"publish_timeout_ms: must be a number >= 0"):
        _writer(name, publish_timeout_ms=float("nan"))


def test_writer_needs_a_topic(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="topic"):
        MessageWriter(no_config=True, type="queue", brokers=name)


def test_seek_to_end_skips_retained_and_beginning_rereads_them(name: str) -> None:
    with _writer(name) as w:
        w.publish(b"old-1")
        w.publish(b"old-2")
    with _reader(name) as r:
        r.seek_to_end()
        w2 = _writer(name)
        with w2:
            w2.publish(b"new")
        assert [m.value for m in r] == [b"new"]
    with _writer(name) as w:
        w.publish(b"kept")
    with _reader(name) as r:
        r.seek_to_beginning()
        assert [m.value for m in r] == [b"kept"]


# Readers take records in batches (one lock per batch); these pin the rules that
# must still hold message by message.


def test_a_closed_reader_leaves_what_it_did_not_read_for_the_next(name: str) -> None:
    with _writer(name) as w:
        for i in range(5):
            w.publish(b"%d" % i)
    with _reader(name) as r:
        assert next(iter(r)).value == b"0"
    with _reader(name) as r:
        assert [m.value for m in r] == [b"1", b"2", b"3", b"4"]


def test_seek_to_beginning_after_a_partial_read_rereads_only_the_unread(name: str) -> None:
    with _reader(name) as r, _writer(name) as w:
        for i in range(4):
            w.publish(b"%d" % i)
        it = iter(r)
        assert [next(it).value, next(it).value] == [b"0", b"1"]
        r.seek_to_beginning()
        assert [m.value for m in r] == [b"2", b"3"]


def test_backlog_counts_messages_as_they_are_read(name: str) -> None:
    broker = sinetstream_queue.broker(name)
    with _reader(name) as r, _writer(name) as w:
        for i in range(3):
            w.publish(b"%d" % i)
        it = iter(r)
        next(it)
        assert broker.backlog("t") == 2
        assert r.metrics.raw["backlog"] == {"t": 2}


def test_reading_one_message_makes_room_for_one_publish(name: str) -> None:
    with _reader(name, maxsize=3) as r, _writer(name, maxsize=3, publish_timeout_ms=0) as w:
        for i in range(3):
            w.publish(b"%d" % i)
        with pytest.raises(sinetstream_queue.QueueFullError):
            w.publish(b"no room")
        it = iter(r)
        assert next(it).value == b"0"
        w.publish(b"3")  # room made by the one message read, without a wait
        with pytest.raises(sinetstream_queue.QueueFullError):
            w.publish(b"no room either")
        assert [m.value for m in r] == [b"1", b"2", b"3"]


def test_a_blocked_publish_resumes_when_a_reader_reads_one_message(name: str) -> None:
    with _reader(name, maxsize=2) as r, _writer(name, maxsize=2, publish_timeout_ms=5000) as w:
        w.publish(b"0")
        w.publish(b"1")
        it = iter(r)
        done = threading.Event()

        def blocked() -> None:
            w2 = _writer(name, maxsize=2, publish_timeout_ms=5000)
            with w2:
                w2.publish(b"2")
            done.set()

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.1)
        assert not done.is_set()
        assert next(it).value == b"0"  # the reader stops after one message
        assert done.wait(2)
        t.join()
        assert [m.value for m in r] == [b"1", b"2"]


def test_the_reader_gets_the_writers_timestamp_and_record(name: str) -> None:
    with _reader(name) as r, _writer(name) as w:
        record = w.publish(b"x", timestamp=1.5)
        (message,) = list(r)
        assert message.raw == record
        assert message.timestamp_us == record.timestamp == 1_500_000
        assert message.raw.value.endswith(b"x")  # the wire bytes, as published
        # built without the dataclass __init__, but the same frozen Record
        same = sinetstream_queue.Record("t", record.offset, record.value, record.timestamp)
        assert record == same
        assert hash(record) == hash(same)
        assert repr(record) == repr(same)
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.offset = 5  # type: ignore[misc]


def test_the_log_keeps_a_copy_of_a_mutable_value(name: str) -> None:
    b = sinetstream_queue.broker(name)
    value = bytearray(b"before")
    record = b.publish("t", value, 7)
    value[:] = b"after!"
    sub = b.subscribe(["t"])
    assert sub.get(0) == record
    assert record.value == b"before"
    assert record.timestamp == 7
    sub.close()


def test_headers_given_to_publish_win_and_the_callers_message_is_untouched(name: str) -> None:
    from sinetstream.spi import PluginMessage

    b = sinetstream_queue.broker(name)
    message = PluginMessage(b"x", 5)
    message.headers = {"k": "mine"}
    record = b.publish("t", message, 5, headers={"k": "given"})
    assert record.headers == {"k": "given"}
    assert record.value.headers == {"k": "given"}  # type: ignore[attr-defined]
    assert message.headers == {"k": "mine"}
    plain = b.publish("t", message, 5)  # the same timestamp, no headers: not the same message
    assert plain.headers is None
    assert plain.value.headers is None  # type: ignore[attr-defined]
    kept = b.publish("t", message, 5, headers=message.headers)
    assert kept.value is message  # says the same: stored as it is, no copy


def test_async_writer_counts_what_its_thread_stored(name: str) -> None:
    w = AsyncMessageWriter(
        None,
        "t",
        no_config=True,
        type="queue",
        brokers=name,
        type_spec={"maxsize": 2, "publish_timeout_ms": 5000},
    )
    with _reader(name, maxsize=2, timeout=2000) as r, w:
        promises = [w.publish(b"%d" % i) for i in range(10)]  # 8 wait for the thread
        got = []
        for m in r:
            got.append(m.value)
            if len(got) == 10:
                break
        assert [p.get(5).offset for p in promises] == list(range(10))
        assert w.metrics.raw["published"] == 10


def test_async_reader_closed_by_its_callback_delivers_nothing_more(name: str) -> None:
    with _writer(name) as w:
        for i in range(20):
            w.publish(b"%d" % i)
    reader = AsyncMessageReader(None, "t", no_config=True, type="queue", brokers=name)
    seen: list[bytes] = []
    done = threading.Event()

    def on_message(message: object) -> None:
        seen.append(message.value)  # type: ignore[attr-defined]
        if len(seen) == 3:
            reader.close()  # from the delivery thread, mid-batch
            done.set()

    reader.on_message = on_message
    reader.open()
    assert done.wait(5)
    time.sleep(0.2)
    assert seen == [b"0", b"1", b"2"]
