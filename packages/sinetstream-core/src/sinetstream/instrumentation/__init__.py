"""OpenTelemetry traces and metrics for sinetstream (``pip install "sinetstream-core[otel]"``).

::

    from sinetstream.instrumentation import SinetstreamInstrumentor

    SinetstreamInstrumentor().instrument(tracer_provider=..., meter_provider=...)

Every publish gets a PRODUCER span ``send {topic}`` and every message
received a CONSUMER span ``receive {topic}``, with the attributes of the
OpenTelemetry messaging semantic conventions, and the metrics
``messaging.client.sent.messages``, ``messaging.client.consumed.messages``
and ``messaging.client.operation.duration``. The writer's trace context
travels to the reader in Kafka record headers, MQTT 5 user properties, or in
process (queue). See docs/telemetry.md.

Importing this module imports ``opentelemetry-api``; ``import sinetstream``
never does.
"""

from __future__ import annotations

try:
    from ._instrumentor import SinetstreamInstrumentor
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    if exc.name is None or not exc.name.startswith("opentelemetry"):
        raise
    raise ModuleNotFoundError(
        'sinetstream.instrumentation needs opentelemetry-api: pip install "sinetstream-core[otel]"',
        name=exc.name,
    ) from exc

__all__ = ["SinetstreamInstrumentor"]
