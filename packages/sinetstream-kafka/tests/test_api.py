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
        assert reader.info("kafka.group_id") == "api-reader"
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
