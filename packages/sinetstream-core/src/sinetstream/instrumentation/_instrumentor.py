"""``SinetstreamInstrumentor``: install and remove the tracing of the four classes.

Like the instrumentors of opentelemetry-python-contrib, ``instrument()``
wraps the entry points of the library's classes and ``uninstrument()`` puts
the originals back; nothing of OpenTelemetry runs (or is imported) before.
The wrapped entry points:

* ``MessageWriter.publish`` / ``AsyncMessageWriter.publish``: a PRODUCER span
  ``send {topic}``, current while the message is encoded; the async one ends
  when the Promise settles.
* ``_WriterBase._encode_message``: the body size, and the W3C trace context
  as ``PluginMessage.headers`` when the backend carries headers
  (``supports_headers``).
* ``MessageReader._decode_message``: a CONSUMER span ``receive {topic}``
  around the decoding, parented to the context in the message's headers.
* ``AsyncMessageReader._received``: the same, current while ``on_message`` runs.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Span

from sinetstream._readers import AsyncMessageReader, MessageReader
from sinetstream._writers import AsyncMessageWriter, MessageWriter, _WriterBase

from . import _semconv as sc
from ._telemetry import Telemetry

__all__ = ["SinetstreamInstrumentor"]

_log = logging.getLogger("sinetstream.instrumentation")

_SEND = ("send", "send")
_RECEIVE = ("receive", "receive")
# on_message is push delivery: "process" in the conventions' words.
_PROCESS = ("process", "receive")

_Wrapper = Callable[[Telemetry, Callable[..., Any]], Callable[..., Any]]


# The PRODUCER span of the publish running on this thread, for _encode_message.
_sending = threading.local()


def _enter(span: Span, sending: bool = False) -> object | None:
    """Make ``span`` current, unless it has no context (a no-op tracer's): then nothing.

    ``context.attach`` rather than ``trace.use_span``: a generator context manager per
    message costs more than the rest of the instrumentation together.
    """
    if not span.get_span_context().is_valid:
        return None
    if sending:
        _sending.span = span
    return context.attach(trace.set_span_in_context(span))


def _leave(token: object | None) -> None:
    if token is not None:
        _sending.span = None
        context.detach(token)  # type: ignore[arg-type]


def _publish(settles_later: bool) -> _Wrapper:
    """The wrapper of a writer's ``publish``; an async one ends its span when the Promise does."""

    def wrap(tel: Telemetry, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def publish(self: Any, msg: Any, timestamp: float | None = None, **kwargs: Any) -> Any:
            client = tel.client(self, _SEND)
            if client is None:
                return original(self, msg, timestamp, **kwargs)
            topic = self._topic
            span, started = tel.start_send(client, topic)
            token = _enter(span, sending=True)
            try:
                result = original(self, msg, timestamp, **kwargs)
            except BaseException as exc:
                tel.failed(client, topic, span, started, error=exc, count_sent=True)
                raise
            finally:
                _leave(token)
            if not settles_later:
                tel.sent_ok(client, topic, span, started, receipt=result, kwargs=kwargs)
                return result

            def settled(receipt: Any) -> None:
                tel.sent_ok(client, topic, span, started, receipt=receipt, kwargs=kwargs)

            def rejected(error: BaseException) -> None:
                tel.failed(client, topic, span, started, error=error, count_sent=True)

            result.then(settled, rejected)
            return result

        return publish

    return wrap


def _encode_message(tel: Telemetry, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def encode(self: Any, msg: Any, timestamp: float | None) -> Any:
        encoded = original(self, msg, timestamp)
        span: Span | None = getattr(_sending, "span", None)
        if span is None:  # not instrumented, telemetry off, or a no-op tracer
            return encoded
        message = encoded[0]
        if span.is_recording():
            span.set_attribute(sc.BODY_SIZE, len(message))
        if getattr(self._plugin, "supports_headers", False):
            message.headers = tel.inject(span)
        return encoded

    return encode


def _receive(operation: tuple[str, str]) -> _Wrapper:
    """The wrapper of a reader's ``(data, topic, raw)`` entry point: a CONSUMER span around it."""

    def wrap(tel: Telemetry, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def receive(self: Any, data: Any, topic: str | None, raw: Any) -> Any:
            client = tel.client(self, operation)
            if client is None:
                return original(self, data, topic, raw)
            span, started = tel.start_receive(client, data, topic, raw)
            token = _enter(span)
            try:
                result = original(self, data, topic, raw)
            except BaseException as exc:
                tel.failed(client, topic, span, started, error=exc, count_sent=False)
                raise
            finally:
                _leave(token)
            tel.received_ok(client, topic, span, started)
            return result

        return receive

    return wrap


#: (class, method, wrapper factory): every entry point instrument() replaces.
_PATCHES: tuple[tuple[type, str, _Wrapper], ...] = (
    (MessageWriter, "publish", _publish(settles_later=False)),
    (AsyncMessageWriter, "publish", _publish(settles_later=True)),
    (_WriterBase, "_encode_message", _encode_message),
    (MessageReader, "_decode_message", _receive(_RECEIVE)),
    (AsyncMessageReader, "_received", _receive(_PROCESS)),
)


class SinetstreamInstrumentor:
    """Traces and metrics for every publish and receive (OpenTelemetry).

    ``SinetstreamInstrumentor().instrument(tracer_provider=..., meter_provider=...)``
    turns them on for every reader and writer, existing or new, whose service
    does not say ``telemetry: false``; ``uninstrument()`` turns them off. Both
    providers default to the global ones. Like the instrumentors of
    opentelemetry-python-contrib it is a singleton, and calling ``instrument()``
    twice does nothing the second time. Registered under the
    ``opentelemetry_instrumentor`` entry point as ``sinetstream``, so
    ``opentelemetry-instrument`` turns it on.
    """

    _instance: SinetstreamInstrumentor | None = None
    _lock = threading.Lock()

    def __new__(cls, *args: Any, **kwargs: Any) -> SinetstreamInstrumentor:
        with cls._lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._originals = []
                instance._telemetry = None
                cls._instance = instance
            return cls._instance

    _originals: list[tuple[type, str, Any]]
    _telemetry: Telemetry | None

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """True between ``instrument()`` and ``uninstrument()``."""
        return self._telemetry is not None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The libraries this instruments: sinetstream itself, always present."""
        return ()

    def instrument(self, **kwargs: Any) -> None:
        """Start tracing; ``tracer_provider`` and ``meter_provider`` are optional."""
        with self._lock:
            if self._telemetry is not None:
                _log.warning("sinetstream is already instrumented")
                return
            tel = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
            self._telemetry = tel
            if not tel.active:
                # No-op providers (an SDK disabled by OTEL_SDK_DISABLED, say) can record
                # nothing: then nothing is wrapped, and no message pays anything.
                _log.debug("no-op tracer and meter providers: sinetstream left as it is")
                return
            for cls, name, factory in _PATCHES:
                self._originals.append((cls, name, cls.__dict__.get(name)))
                setattr(cls, name, factory(tel, getattr(cls, name)))

    def uninstrument(self, **kwargs: Any) -> None:
        """Stop tracing: the original methods are back."""
        with self._lock:
            if self._telemetry is None:
                return
            for cls, name, own in reversed(self._originals):
                if own is None:
                    delattr(cls, name)
                else:
                    setattr(cls, name, own)
            self._originals.clear()
            self._telemetry = None
