"""The tracer, the three instruments, and what one reader or writer reports with them.

:class:`Telemetry` is built by ``SinetstreamInstrumentor.instrument()`` and
holds the tracer and the meters' instruments. :meth:`Telemetry.client` gives
the :class:`ClientTelemetry` of one reader or writer, built on its first
message and cached: its fixed attributes, span names per topic, and whether
the service switched telemetry off (``telemetry: false``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import Meter, MeterProvider, NoOpMeter, get_meter
from opentelemetry.trace import (
    NoOpTracer,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from sinetstream import _version
from sinetstream.error import InvalidArgumentError

from . import _semconv as sc

__all__ = ["ClientTelemetry", "Telemetry"]

_SCOPE = "sinetstream"
# The attribute of a reader or writer that caches its ClientTelemetry.
_CACHE = "_otel_client"
# The bucket boundaries the semantic conventions give for operation durations.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


class ClientTelemetry:
    """What one reader or writer reports: fixed attributes and per-topic span names."""

    __slots__ = ("attributes", "carries_headers", "metric_attributes", "names", "system")

    def __init__(self, system: str, attributes: dict[str, Any], operation: tuple[str, str]) -> None:
        self.system = system
        op_type, op_name = operation
        self.attributes = {**attributes, sc.OPERATION_TYPE: op_type, sc.OPERATION_NAME: op_name}
        self.metric_attributes = {
            k: v
            for k, v in self.attributes.items()
            if k in (sc.SYSTEM, sc.OPERATION_NAME, sc.SERVER_ADDRESS, sc.SERVER_PORT)
        }
        #: topic -> (span name, span attributes, metric attributes)
        self.names: dict[str | None, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        self.carries_headers = False

    def for_topic(self, topic: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Span name, span attributes and metric attributes for messages of ``topic``."""
        entry = self.names.get(topic)
        if entry is None:
            op_name = self.attributes[sc.OPERATION_NAME]
            if topic is None:
                entry = (op_name, self.attributes, self.metric_attributes)
            else:
                entry = (
                    f"{op_name} {topic}",
                    {**self.attributes, sc.DESTINATION: topic},
                    {**self.metric_attributes, sc.DESTINATION: topic},
                )
            self.names[topic] = entry
        return entry


def _telemetry_enabled(io: Any) -> bool:
    value = io.params.get("telemetry", True)
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{io._where}telemetry: {value!r} must be true or false")
    return value


class Telemetry:
    """The tracer and instruments of one ``instrument()`` call."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        version = _version.__version__
        self.tracer: Tracer = trace.get_tracer(
            _SCOPE, version, tracer_provider, schema_url="https://opentelemetry.io/schemas/1.27.0"
        )
        meter: Meter = get_meter(_SCOPE, version, meter_provider)
        #: False when both providers are no-ops (the API's, or an SDK disabled with
        #: OTEL_SDK_DISABLED): nothing could be recorded, so nothing is wrapped.
        self.active = not (isinstance(self.tracer, NoOpTracer) and isinstance(meter, NoOpMeter))
        self.sent = meter.create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Number of messages the producer attempted to send.",
        )
        self.consumed = meter.create_counter(
            "messaging.client.consumed.messages",
            unit="{message}",
            description="Number of messages delivered to the application.",
        )
        self.duration = meter.create_histogram(
            "messaging.client.operation.duration",
            unit="s",
            description="Duration of a send or receive operation.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    def client(self, io: Any, operation: tuple[str, str]) -> ClientTelemetry | None:
        """The telemetry of reader or writer ``io``; ``None`` when its service has it off."""
        # Cached in the object itself, tagged with this Telemetry: a dict lookup per
        # message, and a later instrument() call (new providers) builds afresh.
        entry = io.__dict__.get(_CACHE)
        if entry is not None and entry[0] is self:
            found: ClientTelemetry | None = entry[1]
            return found
        found = None
        if _telemetry_enabled(io):
            system = str(io.params.get("type"))
            attrs = sc.client_attributes(system, io.params, io._is_reader)
            found = ClientTelemetry(system, attrs, operation)
        io.__dict__[_CACHE] = (self, found)
        return found

    # -- sending ------------------------------------------------------------------------------

    def start_send(self, client: ClientTelemetry, topic: str | None) -> tuple[Span, float]:
        """Start the PRODUCER span of one publish; returns it and the start time."""
        name, attrs, _ = client.for_topic(topic)
        span = self.tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attrs)
        return span, time.perf_counter()

    def sent_ok(
        self,
        client: ClientTelemetry,
        topic: str | None,
        span: Span,
        started: float,
        *,
        receipt: Any,
        kwargs: Mapping[str, Any],
    ) -> None:
        """End a PRODUCER span that succeeded and count the message."""
        if span.is_recording():
            extra = sc.receipt_attributes(client.system, receipt, kwargs)
            if extra:
                span.set_attributes(extra)
        span.end()
        metric_attrs = client.for_topic(topic)[2]
        self.sent.add(1, metric_attrs)
        self.duration.record(time.perf_counter() - started, metric_attrs)

    def failed(
        self,
        client: ClientTelemetry,
        topic: str | None,
        span: Span,
        started: float,
        *,
        error: BaseException,
        count_sent: bool,
    ) -> None:
        """End a span with the error: exception event, ``error.type``, ERROR status."""
        kind = sc.error_type(error)
        if span.is_recording():
            span.record_exception(error)
            span.set_attribute(sc.ERROR_TYPE, kind)
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"))
        span.end()
        metric_attrs = {**client.for_topic(topic)[2], sc.ERROR_TYPE: kind}
        if count_sent:
            self.sent.add(1, metric_attrs)
        self.duration.record(time.perf_counter() - started, metric_attrs)

    @staticmethod
    def inject(span: Span) -> dict[str, str]:
        """The W3C trace context (``traceparent``, ``tracestate``) of ``span`` as headers."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier

    # -- receiving ----------------------------------------------------------------------------

    def start_receive(
        self, client: ClientTelemetry, data: Any, topic: str | None, raw: Any
    ) -> tuple[Span, float]:
        """Start the CONSUMER span of one message, parented to the writer's context if sent."""
        name, attrs, _ = client.for_topic(topic)
        headers = getattr(data, "headers", None)
        parent: Context | None = propagate.extract(headers) if headers else None
        span = self.tracer.start_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=attrs
        )
        if span.is_recording():
            extra = sc.received_attributes(client.system, raw)
            extra[sc.BODY_SIZE] = len(data)
            span.set_attributes(extra)
        return span, time.perf_counter()

    def received_ok(
        self, client: ClientTelemetry, topic: str | None, span: Span, started: float
    ) -> None:
        """End a CONSUMER span that succeeded and count the message."""
        span.end()
        metric_attrs = client.for_topic(topic)[2]
        self.consumed.add(1, metric_attrs)
        self.duration.record(time.perf_counter() - started, metric_attrs)
