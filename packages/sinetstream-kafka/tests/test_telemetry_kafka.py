"""OpenTelemetry on Kafka (Tansu): one trace from writer to reader through record headers."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.trace import SpanKind, StatusCode
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    InvalidArgumentError,
    Message,
    MessageReader,
    MessageWriter,
)
from sinetstream.testing.telemetry import TelemetryCapture

from .conftest import TANSU_SESSION

pytestmark = pytest.mark.kafka


def _params(tansu: str, group: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {**TANSU_SESSION, "auto_offset_reset": "earliest"}
    if group is not None:
        spec["group_id"] = group
    return {"type": "kafka", "brokers": tansu, "no_config": True, "type_spec": spec}


def _read_one(tansu: str, topic: str) -> Message:
    group = f"g-{uuid.uuid4().hex[:12]}"
    with MessageReader(None, topic, receive_timeout_ms=10_000, **_params(tansu, group)) as r:
        return next(iter(r))


def test_one_trace_through_record_headers(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    with TelemetryCapture() as capture:
        with MessageWriter(None, topic, client_id="otel-kw", **_params(tansu)) as writer:
            writer.publish(b"k", key="user-7", headers={"app": b"mine"})
        message = _read_one(tansu, topic)
    assert message.value == b"k"
    # The user's own header is kept, the trace context follows it.
    assert [name for name, _ in message.raw.headers] == ["app", "traceparent"]
    send, receive = capture.send_and_receive(topic)
    assert send.kind == SpanKind.PRODUCER
    assert receive.kind == SpanKind.CONSUMER
    assert capture.is_child(receive, send)
    host, port = tansu.rsplit(":", 1)
    sent = dict(send.attributes or {})
    assert sent["messaging.system"] == "kafka"
    assert sent["messaging.client.id"] == "otel-kw"
    assert sent["messaging.kafka.message.key"] == "user-7"
    assert sent["messaging.destination.partition.id"] == "0"
    assert sent["messaging.kafka.offset"] == 0
    assert sent["server.address"] == host
    assert sent["server.port"] == int(port)
    got = dict(receive.attributes or {})
    assert got["messaging.kafka.offset"] == 0
    assert got["messaging.kafka.message.key"] == "user-7"
    assert got["messaging.consumer.group.name"].startswith("g-")


def test_payload_bytes_do_not_change(tansu: str, make_topic: Any) -> None:
    plain, traced = make_topic(tansu), make_topic(tansu)
    with MessageWriter(None, plain, **_params(tansu)) as writer:
        writer.publish(b"same", timestamp=1_700_000_000.0)
    with TelemetryCapture(), MessageWriter(None, traced, **_params(tansu)) as writer:
        writer.publish(b"same", timestamp=1_700_000_000.0)
    assert _read_one(tansu, traced).raw.value == _read_one(tansu, plain).raw.value


def test_async_one_trace(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    group = f"g-{uuid.uuid4().hex[:12]}"
    got = threading.Event()
    with TelemetryCapture() as capture:
        with AsyncMessageWriter(None, topic, **_params(tansu)) as writer:
            writer.publish(b"async").get(10)
        with AsyncMessageReader(None, topic, **_params(tansu, group)) as reader:
            reader.on_message = lambda _m: got.set()
            assert got.wait(15)
    send, receive = capture.send_and_receive(topic)
    assert capture.is_child(receive, send)


def test_rejected_publish_is_an_error_span(tansu: str, make_topic: Any) -> None:
    topic = make_topic(tansu)
    with (
        TelemetryCapture() as capture,
        MessageWriter(None, topic, **_params(tansu)) as writer,
        pytest.raises(InvalidArgumentError, match="key"),
    ):
        writer.publish(b"x", key=12)
    (span,) = capture.spans(f"send {topic}")
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "InvalidArgumentError"
    assert capture.total("messaging.client.sent.messages", error_type="InvalidArgumentError") == 1
