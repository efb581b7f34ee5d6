"""The conformance test of trace propagation (feature ``headers``).

It runs where ``opentelemetry-sdk`` is installed. A backend that declares
``headers`` carries the writer's trace context to the reader (the headers
hook of :mod:`sinetstream.spi`): the reader's CONSUMER span is a child of the
writer's PRODUCER span. Without it, both spans exist and are unlinked; either
way the payload arrives unchanged.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from sinetstream import MessageReader, MessageWriter

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = ["TelemetryTests"]


class TelemetryTests:
    """Mixed into :class:`ConformanceSuite`."""

    def test_trace_context_crosses_the_broker(self, backend: Backend) -> None:
        pytest.importorskip("opentelemetry.sdk")
        from .telemetry import TelemetryCapture

        topic = backend.topic()
        params = {"receive_timeout_ms": backend.receive_timeout_ms, **backend.params}
        with TelemetryCapture() as capture:
            with MessageReader(None, topic, no_config=True, **params) as reader:
                time.sleep(backend.settle_s)
                with MessageWriter(None, topic, no_config=True, **backend.params) as writer:
                    writer.publish(b"traced")
                first = next(iter(reader), None)  # no need to wait out receive_timeout_ms
                assert first is not None
                assert first.value == b"traced"
            sent, received = capture.send_and_receive(topic)
        if "headers" in backend.features:
            assert capture.is_child(received, sent)
        else:
            assert received.context is not None
            assert sent.context is not None
            assert received.context.trace_id != sent.context.trace_id
