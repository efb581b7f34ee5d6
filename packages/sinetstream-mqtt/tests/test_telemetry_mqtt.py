"""OpenTelemetry on Mosquitto: one trace across MQTT 5 (user properties), none on 3.1.1."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from mqtt_support import USERS, Mosquitto
from opentelemetry.trace import SpanKind, StatusCode
from sinetstream import (
    AsyncMessageReader,
    AsyncMessageWriter,
    AuthorizationError,
    Message,
    MessageReader,
    MessageWriter,
)
from sinetstream.testing.telemetry import TelemetryCapture

pytestmark = pytest.mark.mqtt


def _params(mosquitto: Mosquitto, protocol: str, **spec: Any) -> dict[str, Any]:
    return {
        "type": "mqtt",
        "brokers": mosquitto.broker(),
        "no_config": True,
        "consistency": "AT_LEAST_ONCE",
        "type_spec": {"protocol": protocol, **spec},
    }


def _round_trip(params: dict[str, Any], topic: str, value: bytes) -> Message:
    with MessageReader(None, topic, receive_timeout_ms=3000, **params) as reader:
        with MessageWriter(None, topic, client_id="otel-writer", **params) as writer:
            writer.publish(value, timestamp=1_700_000_000.0)
        return next(iter(reader))


def test_mqtt5_one_trace_through_user_properties(mosquitto: Mosquitto, topic: str) -> None:
    with TelemetryCapture() as capture:
        message = _round_trip(_params(mosquitto, "MQTTv5"), topic, b"five")
    assert message.value == b"five"
    send, receive = capture.send_and_receive(topic)
    assert send.kind == SpanKind.PRODUCER
    assert receive.kind == SpanKind.CONSUMER
    assert capture.is_child(receive, send)
    names = [name for name, _ in message.raw.properties.UserProperty]
    assert names == ["traceparent"]
    host, port = mosquitto.broker().rsplit(":", 1)
    attrs = dict(send.attributes or {})
    assert attrs["messaging.system"] == "mqtt"
    assert attrs["messaging.client.id"] == "otel-writer"
    assert attrs["messaging.mqtt.qos"] == 1
    assert attrs["server.address"] == host
    assert attrs["server.port"] == int(port)
    assert (receive.attributes or {})["messaging.mqtt.qos"] == 1
    assert capture.total("messaging.client.consumed.messages", messaging_system="mqtt") == 1


def test_mqtt311_spans_are_unlinked_and_bytes_unchanged(mosquitto: Mosquitto, topic: str) -> None:
    plain = _round_trip(_params(mosquitto, "MQTTv311"), topic, b"three")
    with TelemetryCapture() as capture:
        traced = _round_trip(_params(mosquitto, "MQTTv311"), topic, b"three")
        five = _round_trip(_params(mosquitto, "MQTTv5"), topic, b"three")
    assert traced.raw.properties is None
    # The payload on the wire is the same with or without telemetry, on 3.1.1 and 5.
    assert bytes(traced.raw.payload) == bytes(plain.raw.payload) == bytes(five.raw.payload)
    send, _ = capture.spans(f"send {topic}")
    receive, _ = capture.spans(f"receive {topic}")
    assert send.context is not None
    assert receive.context is not None
    assert receive.context.trace_id != send.context.trace_id
    assert receive.parent is None


def test_mqtt5_async_one_trace(mosquitto: Mosquitto, topic: str) -> None:
    params = _params(mosquitto, "MQTTv5")
    got = threading.Event()
    with TelemetryCapture() as capture, AsyncMessageReader(None, topic, **params) as reader:
        reader.on_message = lambda _m: got.set()
        time.sleep(0.2)
        with AsyncMessageWriter(None, topic, **params) as writer:
            writer.publish(b"async").get(5)
        assert got.wait(5)
    send, receive = capture.send_and_receive(topic)
    assert capture.is_child(receive, send)


def test_mqtt5_denied_publish_is_an_error_span(mosquitto: Mosquitto, topic: str) -> None:
    spec = {"username_pw": {"username": "bob", "password": USERS["bob"]}}
    params = {**_params(mosquitto, "MQTTv5", **spec), "brokers": mosquitto.broker("auth")}
    with TelemetryCapture() as capture:
        with MessageWriter(None, topic, **params) as writer, pytest.raises(AuthorizationError):
            writer.publish(b"denied")
        with (
            AsyncMessageWriter(None, topic, **params) as async_writer,
            pytest.raises(AuthorizationError),
        ):
            async_writer.publish(b"denied").get(5)
    spans = capture.spans(f"send {topic}")
    assert len(spans) == 2
    for span in spans:
        assert span.status.status_code == StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "AuthorizationError"
