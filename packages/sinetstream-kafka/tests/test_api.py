"""End to end through the public API: config files, consistency, key/headers, info, metrics."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sinetstream import (
    AT_LEAST_ONCE,
    EXACTLY_ONCE,
    AsyncMessageReader,
    AsyncMessageWriter,
    ConnectionError,  # noqa: A004
    InvalidMessageError,
    MessageReader,
    MessageWriter,
)

from .conftest import TANSU_SESSION

pytestmark = pytest.mark.kafka


def _config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_v3_config_file_with_type_spec(tansu: str, tmp_path: Path, make_topic: Any) -> None:
    topic = make_topic(tansu)
    cfg = _config(
        tmp_path / "config.yml",
        f"""
header:
  version: 3
config:
  sensors:
    type: kafka
    brokers: {tansu}
    topic: {topic}
    consistency: AT_LEAST_ONCE
    value_type: text
    type_spec:
      linger_ms: 1                # producer only: must not break the reader
      session_timeout_ms: {TANSU_SESSION["session_timeout_ms"]}
      heartbeat_interval_ms: {TANSU_SESSION["heartbeat_interval_ms"]}
""",
    )
    with MessageReader("sensors", config_file=cfg, receive_timeout_ms=3000,
                       client_id="api-reader") as reader:  # fmt: skip
        assert reader.info("kafka.group_id") is None  # no group unless asked for (1.10)
        assert reader.info("kafka.assignment") == [(topic, 0)]
        with MessageWriter("sensors", config_file=cfg, client_id="api-writer") as writer:
            assert writer.info("kafka.client_id") == "api-writer"
            assert writer.info("kafka.acks") == -1
            writer.publish("hello", key="device-1", headers={"unit": "C"})
            raw_metrics = writer.metrics.raw
        message = next(iter(reader))
    assert message.value == "hello"
    assert message.topic == topic
    assert message.raw.key == b"device-1"
    assert message.raw.headers == [("unit", b"C")]
    assert isinstance(raw_metrics, dict)
    assert raw_metrics


def test_v2_config_file_flat_params(tansu: str, tmp_path: Path, make_topic: Any) -> None:
    topic = make_topic(tansu)
    cfg = _config(
        tmp_path / "config.yml",
        f"""
header:
  version: 2
config:
  old:
    type: kafka
    brokers: {tansu}
    topic: {topic}
    group_id: null
    linger_ms: 1
""",
    )
    with MessageReader("old", config_file=cfg, receive_timeout_ms=3000) as reader:
        assert reader.info("kafka.group_id") is None
        with MessageWriter("old", config_file=cfg) as writer:
            writer.publish(b"v2")
        assert [m.value for m in reader] == [b"v2"]


def test_exactly_once_and_seek(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    params = {"type": "kafka", "brokers": tansu, "type_spec": {"group_id": None}}
    with MessageWriter(None, topic, no_config=True, consistency=EXACTLY_ONCE, **params) as w:
        assert w.info("kafka.enable_idempotence") is True
        for i in range(3):
            w.publish(b"%d" % i)
    with MessageReader(None, topic, no_config=True, consistency=EXACTLY_ONCE,
                       receive_timeout_ms=500, **params) as r:  # fmt: skip
        assert list(r) == []
        r.seek_to_beginning()
        assert [m.value for m in r] == [b"0", b"1", b"2"]


def test_async_api(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    params = {"type": "kafka", "brokers": tansu, "consistency": AT_LEAST_ONCE,
              "type_spec": {"group_id": None}}  # fmt: skip
    got: list[bytes] = []
    done = threading.Event()

    def on_message(message: Any) -> None:
        got.append(message.value)
        if len(got) == 100:
            done.set()

    reader = AsyncMessageReader(None, topic, no_config=True, **params)
    reader.on_message = on_message
    with reader, AsyncMessageWriter(None, topic, no_config=True, **params) as writer:
        results = [writer.publish(b"%d" % i) for i in range(100)]
        metadata = [p.get(10) for p in results]
        assert done.wait(10)
    assert [md.offset for md in metadata] == list(range(100))
    assert got == [b"%d" % i for i in range(100)]


def test_unreachable_through_api() -> None:
    from .conftest import free_port

    params = {"type": "kafka", "brokers": f"127.0.0.1:{free_port()}",
              "type_spec": {"bootstrap_timeout_ms": 500}}  # fmt: skip
    with pytest.raises(ConnectionError):
        MessageWriter(None, f"t-{uuid.uuid4().hex[:6]}", no_config=True, **params).open()


def _with_a_corrupt_batch(tansu: str, topic: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """good-1, then a batch whose CRC is wrong (Tansu stores it as given), then good-2."""
    import kafka.record.default_records as records

    with MessageWriter(type="kafka", brokers=tansu, topic=topic, value_type="text",
                       no_config=True, type_spec={"linger_ms": 0}) as writer:  # fmt: skip
        writer.publish("good-1")
        crc = records.calc_crc32c
        monkeypatch.setattr(records, "calc_crc32c", lambda data: (crc(data) + 1) & 0xFFFFFFFF)
        writer.publish("damaged")
        monkeypatch.setattr(records, "calc_crc32c", crc)
        writer.publish("good-2")


def _reader_params(tansu: str, topic: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": tansu, "topics": topic, "value_type": "text",
            "no_config": True, "receive_timeout_ms": 3000,
            "type_spec": {"group_id": None, "auto_offset_reset": "earliest"},
            **extra}  # fmt: skip


def test_a_corrupt_batch_is_an_invalid_message_and_reading_goes_on(
    tansu: str, make_topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the error was a bare SinetError, and the next iteration spun in
    # kafka-python's poll at 100% CPU for ever, receive_timeout_ms or not.
    topic = make_topic(tansu)
    _with_a_corrupt_batch(tansu, topic, monkeypatch)
    with MessageReader(**_reader_params(tansu, topic)) as reader:
        it = iter(reader)
        assert next(it).value == "good-1"
        with pytest.raises(InvalidMessageError, match=r"1 record at offset 1 of .*skipped"):
            next(it)
        assert [m.value for m in reader] == ["good-2"]
        assert reader.metrics.invalid_message_count_total == 1


def test_skipping_invalid_messages_skips_a_corrupt_batch(
    tansu: str, make_topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = make_topic(tansu)
    _with_a_corrupt_batch(tansu, topic, monkeypatch)
    with MessageReader(**_reader_params(tansu, topic, on_invalid_message="skip")) as reader:
        assert [m.value for m in reader] == ["good-1", "good-2"]
        assert reader.metrics.invalid_message_count_total == 1


def test_the_async_reader_reports_a_corrupt_batch_and_goes_on(
    tansu: str, make_topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = make_topic(tansu)
    _with_a_corrupt_batch(tansu, topic, monkeypatch)
    got: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def on_message(message: Any) -> None:
        got.append(message.value)
        if message.value == "good-2":
            done.set()

    with AsyncMessageReader(**_reader_params(tansu, topic)) as reader:
        reader.on_failure = lambda exc, tb: failures.append(exc)
        reader.on_message = on_message
        assert done.wait(20)
    assert got == ["good-1", "good-2"]
    assert [type(f) for f in failures] == [InvalidMessageError]
