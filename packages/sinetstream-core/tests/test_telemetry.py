"""OpenTelemetry instrumentation on the queue backend: spans, metrics, propagation, off switch."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
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
    SinetError,
)
from sinetstream.instrumentation import SinetstreamInstrumentor
from sinetstream.testing.telemetry import TelemetryCapture
from sinetstream_queue import _broker


@pytest.fixture
def capture() -> Iterator[TelemetryCapture]:
    with TelemetryCapture() as c:
        yield c


def _q(broker_name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "queue", "brokers": broker_name, "no_config": True, **kwargs}


def _read_all(broker_name: str, topic: str, **kwargs: Any) -> list[Message]:
    with MessageReader(None, topic, **_q(broker_name, receive_timeout_ms=100, **kwargs)) as r:
        return list(r)


def test_one_trace_from_writer_to_reader(capture: TelemetryCapture, broker_name: str) -> None:
    with MessageWriter(None, "t1", **_q(broker_name, client_id="w1")) as w:
        w.publish(b"hello")
    (message,) = _read_all(broker_name, "t1", client_id="r1")
    assert message.value == b"hello"
    send, receive = capture.send_and_receive("t1")
    assert send.kind == SpanKind.PRODUCER
    assert receive.kind == SpanKind.CONSUMER
    assert capture.is_child(receive, send)
    assert dict(send.attributes or {}) == {
        "messaging.system": "queue",
        "messaging.destination.name": "t1",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.client.id": "w1",
        "messaging.message.body.size": len(message.raw.value),
    }
    assert dict(receive.attributes or {}) == {
        "messaging.system": "queue",
        "messaging.destination.name": "t1",
        "messaging.operation.type": "receive",
        "messaging.operation.name": "receive",
        "messaging.client.id": "r1",
        "messaging.message.body.size": len(message.raw.value),
    }


def test_no_payload_or_secret_in_attributes(capture: TelemetryCapture, broker_name: str) -> None:
    crypto = {"algorithm": "AES", "mode": "GCM", "password": "s3cret-pw"}
    params = _q(broker_name, data_encryption=True, crypto=crypto)
    with MessageWriter(None, "t", **params) as w:
        w.publish(b"payload-marker")
    assert [m.value for m in _read_all(broker_name, "t", data_encryption=True, crypto=crypto)] == [
        b"payload-marker"
    ]
    for span in capture.spans():
        text = repr(dict(span.attributes or {}))
        assert "payload-marker" not in text
        assert "s3cret-pw" not in text


def test_metrics(capture: TelemetryCapture, broker_name: str) -> None:
    with MessageWriter(None, "m", **_q(broker_name)) as w:
        for value in (b"a", b"b", b"c"):
            w.publish(value)
    assert len(_read_all(broker_name, "m")) == 3
    sent = "messaging.client.sent.messages"
    assert capture.total(sent, messaging_destination_name="m", messaging_system="queue") == 3
    assert capture.total("messaging.client.consumed.messages", messaging_destination_name="m") == 3
    duration = "messaging.client.operation.duration"
    assert capture.total(duration, messaging_operation_name="send") == 3
    assert capture.total(duration, messaging_operation_name="receive") == 3
    # The library's own counters keep working beside them.
    assert w.metrics.msg_count_total == 3


def test_rejected_publish_is_an_error_span(capture: TelemetryCapture, broker_name: str) -> None:
    params = _q(broker_name, type_spec={"maxsize": 1, "publish_timeout_ms": 0})
    with MessageWriter(None, "full", **params) as w:
        w.publish(b"fits")
        with pytest.raises(SinetError) as info:
            w.publish(b"does not fit")
    assert type(info.value).__name__ == "QueueFullError"
    ok, failed = capture.spans("send full")
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "QueueFullError"
    assert [e.name for e in failed.events] == ["exception"]
    assert capture.total("messaging.client.sent.messages", error_type="QueueFullError") == 1


def test_async_writer_span_ends_when_the_promise_settles(
    capture: TelemetryCapture, broker_name: str
) -> None:
    params = _q(broker_name, type_spec={"maxsize": 1, "publish_timeout_ms": 300})
    with AsyncMessageWriter(None, "a", **params) as w:
        w.publish(b"fits").get(5)
        pending = w.publish(b"waits for room")
        assert capture.spans("send a")[1:] == []  # still waiting: its span is open
        with pytest.raises(SinetError):
            pending.get(5)
    ok, failed = capture.spans("send a")
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "QueueFullError"


def test_async_reader_joins_the_trace_and_is_current_in_on_message(
    capture: TelemetryCapture, broker_name: str
) -> None:
    from opentelemetry import trace

    seen: list[Any] = []
    done = threading.Event()

    def on_message(message: Message) -> None:
        seen.append(trace.get_current_span().get_span_context())
        done.set()

    with AsyncMessageReader(None, "ar", **_q(broker_name)) as reader:
        reader.on_message = on_message
        with AsyncMessageWriter(None, "ar", **_q(broker_name)) as w:
            w.publish(b"x").get(5)
        assert done.wait(5)
    send, receive = capture.send_and_receive("ar")
    assert capture.is_child(receive, send)
    assert seen == [receive.context]
    assert (receive.attributes or {})["messaging.operation.type"] == "process"


def test_telemetry_false_switches_a_service_off(
    capture: TelemetryCapture, broker_name: str
) -> None:
    with MessageWriter(None, "off", **_q(broker_name, telemetry=False)) as w:
        w.publish(b"quiet")
    (message,) = _read_all(broker_name, "off", telemetry=False)
    assert capture.spans() == []
    assert message.raw.headers is None  # nothing injected either


def test_telemetry_must_be_a_boolean(capture: TelemetryCapture, broker_name: str) -> None:
    with (
        MessageWriter(None, "bad", **_q(broker_name, telemetry="yes")) as w,
        pytest.raises(InvalidArgumentError, match="telemetry"),
    ):
        w.publish(b"x")


def _stored(broker_name: str, topic: str) -> bytes:
    (message,) = _read_all(broker_name, topic)
    assert isinstance(message.raw, _broker.Record)
    return message.raw.value


def test_payload_bytes_do_not_change(broker_name: str) -> None:
    params = _q(broker_name, value_type="text")
    with MessageWriter(None, "plain", **params) as w:
        w.publish("same", timestamp=1_700_000_000.0)
    with TelemetryCapture(), MessageWriter(None, "traced", **params) as w:
        w.publish("same", timestamp=1_700_000_000.0)
    assert _stored(broker_name, "traced") == _stored(broker_name, "plain")


def test_uninstrument_restores_everything(broker_name: str) -> None:
    originals = {
        (cls, name): cls.__dict__.get(name)
        for cls in (MessageWriter, AsyncMessageWriter, MessageReader, AsyncMessageReader)
        for name in ("publish", "_decode_message", "_received")
    }
    encode = MessageWriter.__mro__[1].__dict__["_encode_message"]
    with TelemetryCapture() as capture:
        assert SinetstreamInstrumentor().is_instrumented_by_opentelemetry
        assert MessageWriter.publish is not originals[(MessageWriter, "publish")]
    assert not SinetstreamInstrumentor().is_instrumented_by_opentelemetry
    assert SinetstreamInstrumentor() is capture.instrumentor
    for (cls, name), original in originals.items():
        assert cls.__dict__.get(name) is original, (cls, name)
    assert MessageWriter.__mro__[1].__dict__["_encode_message"] is encode
    with MessageWriter(None, "after", **_q(broker_name)) as w:
        w.publish(b"x")
    assert capture.spans() == []


def test_instrument_twice_is_harmless(broker_name: str) -> None:
    with TelemetryCapture() as capture:
        capture.instrumentor.instrument()  # already on: a warning, no second wrapper
        with MessageWriter(None, "twice", **_q(broker_name)) as w:
            w.publish(b"x")
        assert len(capture.spans("send twice")) == 1


def test_entry_point_for_opentelemetry_instrument() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "sinetstream"]
    assert ep.load() is SinetstreamInstrumentor


def test_import_sinetstream_does_not_import_opentelemetry() -> None:
    topic = uuid.uuid4().hex
    code = (
        "import sys, sinetstream\n"
        f"w = sinetstream.MessageWriter(None, {topic!r}, type='queue', no_config=True)\n"
        "w.open(); w.publish(b'x'); w.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_op_providers_cost_nothing_per_message(broker_name: str) -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    publish = MessageWriter.publish
    instrumentor = SinetstreamInstrumentor()
    instrumentor.instrument(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    )
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        assert MessageWriter.publish is publish  # nothing wrapped
        with MessageWriter(None, "noop", **_q(broker_name)) as w:
            w.publish(b"x")
    finally:
        instrumentor.uninstrument()
    (message,) = _read_all(broker_name, "noop")
    assert message.raw.headers is None


def test_config_check_knows_the_telemetry_key(tmp_path: Path) -> None:
    from sinetstream._config import check_config_file

    path = tmp_path / "config.yml"
    path.write_text(
        "header:\n  version: 3\nconfig:\n"
        "  quiet: {type: queue, telemetry: false}\n"
        "  bad: {type: queue, telemetry: maybe}\n"
    )
    assert check_config_file(path) == [
        f"{path}: service 'bad': telemetry: 'maybe' must be true or false"
    ]
