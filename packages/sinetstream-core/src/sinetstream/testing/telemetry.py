"""Capture sinetstream's OpenTelemetry spans and metrics in memory, for tests.

Needs ``opentelemetry-sdk``::

    from sinetstream.testing.telemetry import TelemetryCapture

    with TelemetryCapture() as capture:
        writer.publish(b"x")
        message = next(iter(reader))
    send, receive = capture.send_and_receive("my-topic")
    assert capture.is_child(receive, send)
    assert capture.total("messaging.client.sent.messages") == 1
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sinetstream.instrumentation import SinetstreamInstrumentor

__all__ = ["TelemetryCapture"]


class TelemetryCapture:
    """Instruments sinetstream into in-memory SDK providers while in its ``with`` block."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.instrumentor = SinetstreamInstrumentor()

    def __enter__(self) -> TelemetryCapture:
        self.instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.instrumentor.uninstrument()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named ``name``, if given), oldest first."""
        found = self.exporter.get_finished_spans()
        return [s for s in found if name is None or s.name == name]

    def send_and_receive(self, topic: str) -> tuple[ReadableSpan, ReadableSpan]:
        """The one ``send {topic}`` span and the one ``receive {topic}`` span."""
        (send,) = self.spans(f"send {topic}")
        (receive,) = self.spans(f"receive {topic}")
        return send, receive

    @staticmethod
    def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
        """True when ``child`` is in ``parent``'s trace with ``parent`` as its parent."""
        if child.context is None or parent.context is None or child.parent is None:
            return False
        same_trace: bool = child.context.trace_id == parent.context.trace_id
        return same_trace and child.parent.span_id == parent.context.span_id

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected so far (each with ``.attributes``)."""
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        points.extend(m.data.data_points)
        return points

    def total(self, metric: str, **attributes: Any) -> float:
        """A counter's sum, or a histogram's count, over points matching ``attributes``.

        Attribute names use ``_`` for ``.``: ``total(name, error_type="QueueFullError")``.
        """
        wanted = {k.replace("_", "."): v for k, v in attributes.items()}
        total = 0.0
        for point in self.points(metric):
            attrs = dict(point.attributes or {})
            if all(attrs.get(k) == v for k, v in wanted.items()):
                total += point.count if hasattr(point, "count") else point.value
        return total
