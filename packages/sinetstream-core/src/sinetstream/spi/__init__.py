"""The plugin SPI: what a backend, value type or compression plugin implements.

A backend moves opaque bytes; the core does everything else (config, value
types, compression, framing, encryption, metrics). A backend distribution
registers its classes as entry points, the entry-point name being the value
users write as ``type:`` in their config::

    [project.entry-points."sinetstream.reader"]
    mybroker = "mypkg:MyReader"          # also .writer, .async_reader, .async_writer

Contracts (those of the SINETStream v1.2 plugin guide, kept by 1.10):

* Constructor: ``cls(params)`` (v1.2 guide) or ``cls(confver, params)``
  (SINETStream 1.10). ``params`` is the merged parameter dict; for a config of
  version 3 the messaging-system parameters are under ``params["type_spec"]``
  (:func:`messaging_params` hides the difference).
* Reader: ``open()``, ``close()``, ``__iter__()`` yielding ``(bytes, topic, raw)``
  tuples; the iterator ends (returns, or raises ``StopIteration``) after
  ``params["receive_timeout_ms"]`` milliseconds without a message.
* Writer: ``open()``, ``close()``, ``publish(message: bytes)``. ``message`` is a
  :class:`PluginMessage`, so ``message.timestamp`` carries the µs timestamp.
* Async reader: ``open()``, ``close()`` and two settable properties: the core
  assigns ``on_message(bytes, topic, raw)`` and ``on_failure(exception,
  traceback=None)``; the plugin calls them from its own thread.
  :class:`AsyncReaderBase` holds both and calls them through ``deliver`` and
  ``fail``, so a subclass writes only ``open`` and ``close``.
* Async writer: ``open()``, ``close()``, ``publish(message)`` returning at once
  with a ``promise.Promise`` (or a ``concurrent.futures.Future``) settled when
  the broker has taken the message. Prefer :class:`PublishPromise`: it may be
  settled from any thread, and the core hands it to the user as it is.
* Optional on all four: ``metrics()`` (raw backend metrics, any object),
  ``reset_metrics()``, ``info(ipath, kwargs)``; and on readers
  ``seek_to_beginning()`` / ``seek_to_end()``.
* Optional on writers, headers (what trace propagation needs): a true
  ``supports_headers`` attribute says ``publish`` sends ``message.headers``
  (see :class:`PluginMessage`); readers that receive headers set them on the
  ``PluginMessage`` they hand over.
* Optional on sync readers, manual acknowledgement (what ``sinetstream.Bridge``
  needs for at-least-once): ``enable_manual_ack()``, called before ``open()``,
  says that a message handed out by the iterator is not consumed yet; it is
  once ``ack(raw)`` is called with its ``raw``. ``ack`` may be called from any
  thread, in the order the messages were handed out, and also acknowledges
  every earlier message of the same topic (or partition). What is not
  acknowledged when the reader closes or its process dies is delivered again
  to the next reader of the same subscription (client id, group). A backend
  whose configuration cannot keep that promise (MQTT QoS 0, a Kafka reader
  without a group) raises ``InvalidArgumentError`` from ``enable_manual_ack``.

Subclassing the ABCs below is recommended, not required: a class that defines
the required methods anywhere in its MRO is accepted.

Check parameters in the constructor with :mod:`sinetstream.spi.params`: typed
getters whose errors name the service, the key and the valid values.

:data:`SPI_VERSION` (``"major.minor"``) is the SPI this core provides. A plugin
that uses API newer than SPI 1.0 states the SPI it needs as
``SPI_VERSION_REQUIRED = "X.Y"`` on its class, its module or its top-level
package; the core then refuses to load it, naming both versions, where it
provides an older SPI. A plugin stating nothing loads as before.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sinetstream._version import SPI_VERSION

if TYPE_CHECKING:
    from sinetstream._promise import SinetPromise as PublishPromise

__all__ = [
    "COMMON_PARAMS",
    "AsyncReaderBase",
    "ConfigVersion",
    "PluginAsyncMessageReader",
    "PluginAsyncMessageWriter",
    "PluginCompression",
    "PluginMessage",
    "PluginMessageReader",
    "PluginMessageWriter",
    "PluginValueType",
    "PublishPromise",
    "SPI_VERSION",
    "messaging_params",
]

#: Parameter names owned by the core. In config versions 1 and 2 every other
#: top-level key of a service is a messaging-system (backend) parameter.
COMMON_PARAMS = frozenset(
    {
        "brokers",
        "client_id",
        "compression",
        "config",
        "consistency",
        "crypto",
        "data_compression",
        "data_encryption",
        "message_format",
        "on_invalid_message",
        "receive_timeout_ms",
        "service",
        "telemetry",
        "tls",
        "topic",
        "topics",
        "type",
        "type_spec",
        "user_data_only",
        "value_deserializer",
        "value_serializer",
        "value_type",
    }
)


class ConfigVersion:
    """The version of the config a service came from (1, 2 or 3).

    Handed to plugins with the 1.10 constructor ``cls(confver, params)``.
    """

    __slots__ = ("_version",)

    def __init__(self, version: int) -> None:
        self._version = version

    def ver(self) -> int:
        """The config version: 1 (no header), 2, or 3 (the latest)."""
        return self._version

    def type_spec(self) -> bool:
        """True when messaging-system parameters live under ``type_spec``."""
        return self._version >= 3

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigVersion) and other._version == self._version

    def __hash__(self) -> int:
        return hash(self._version)

    def __repr__(self) -> str:
        return f"ConfigVersion({self._version})"


def messaging_params(confver: ConfigVersion, params: Mapping[str, Any]) -> dict[str, Any]:
    """The messaging-system parameters of ``params``, whatever the config version.

    Version 3: a copy of ``params["type_spec"]``. Versions 1 and 2: every
    top-level key that is not one of :data:`COMMON_PARAMS`.
    """
    if confver.type_spec():
        spec = params.get("type_spec") or {}
        return dict(spec)
    return {k: v for k, v in params.items() if k not in COMMON_PARAMS}


class PluginMessage(bytes):
    """The bytes a writer plugin is asked to publish, with their timestamp.

    ``timestamp`` is microseconds since the epoch (0 when unset). A reader
    plugin may yield one to supply the timestamp of a ``user_data_only`` message.

    ``headers`` (``None``, or a mapping of text names to text values) is the
    optional headers hook: metadata that travels beside the payload, never in
    it. The core sets it on a message to publish (the OpenTelemetry trace
    context, ``traceparent`` / ``tracestate``) only when the writer plugin
    says ``supports_headers = True``; such a plugin sends it (as Kafka record
    headers, MQTT 5 user properties, ...). A reader plugin that can carry
    headers yields a ``PluginMessage`` with the received ones set.
    """

    timestamp: int = 0
    headers: Mapping[str, str] | None = None

    def __new__(cls, value: bytes, timestamp: int = 0) -> PluginMessage:
        obj = super().__new__(cls, value)
        obj.timestamp = timestamp
        return obj


class _PluginBase(ABC):  # noqa: B024 - shared optional hooks, no abstract method of its own
    """Optional hooks shared by the four backend ABCs."""

    def metrics(self) -> Any:
        """Backend-specific metrics, shown as ``Metrics.raw`` (default ``None``)."""
        return None

    def reset_metrics(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Reset the backend-specific metrics, if the backend keeps any."""

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """Backend-specific information for ``info()`` (default ``None``)."""
        return None


class PluginMessageReader(_PluginBase):
    """A synchronous reader backend."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the broker and subscribe."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect; must be safe to call twice."""

    @abstractmethod
    def __iter__(self) -> Iterator[tuple[bytes, str | None, Any]]:
        """Yield ``(payload, topic, raw)``; end after ``receive_timeout_ms`` idle."""


class PluginMessageWriter(_PluginBase):
    """A synchronous writer backend."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the broker."""

    @abstractmethod
    def close(self) -> None:
        """Flush and disconnect; must be safe to call twice."""

    @abstractmethod
    def publish(self, message: bytes) -> Any:
        """Send ``message`` and block until the broker took it; return any receipt."""


class PluginAsyncMessageReader(_PluginBase):
    """An asynchronous (callback) reader backend."""

    @abstractmethod
    def open(self) -> None:
        """Connect, subscribe, and start calling ``on_message``."""

    @abstractmethod
    def close(self) -> None:
        """Stop delivering and disconnect; must be safe to call twice."""

    @property
    @abstractmethod
    def on_message(self) -> Callable[[bytes, str | None, Any], None] | None:
        """Called as ``on_message(payload, topic, raw)`` for each message."""

    @on_message.setter
    @abstractmethod
    def on_message(self, callback: Callable[[bytes, str | None, Any], None] | None) -> None: ...

    @property
    @abstractmethod
    def on_failure(self) -> Callable[[BaseException, TracebackType | None], None] | None:
        """Called as ``on_failure(exception, traceback)`` when receiving fails."""

    @on_failure.setter
    @abstractmethod
    def on_failure(
        self, callback: Callable[[BaseException, TracebackType | None], None] | None
    ) -> None: ...


OnMessage = Callable[[bytes, "str | None", Any], None]
OnFailure = Callable[[BaseException, "TracebackType | None"], None]


class AsyncReaderBase(PluginAsyncMessageReader):
    """A callback reader with its callbacks held and called once, here.

    Subclasses write ``open()`` and ``close()`` and, from their own thread,
    call :meth:`deliver` for each message and :meth:`fail` for each failure.
    Override :meth:`_on_message_changed` to learn when the core sets
    ``on_message`` (to wake a thread waiting for it, say).
    """

    _spi_on_message: OnMessage | None = None
    _spi_on_failure: OnFailure | None = None
    #: Exceptions raised by ``on_message`` (they went to :meth:`fail`).
    callback_errors: int = 0

    @property
    def on_message(self) -> OnMessage | None:
        """Called as ``on_message(payload, topic, raw)`` for each message."""
        return self._spi_on_message

    @on_message.setter
    def on_message(self, callback: OnMessage | None) -> None:
        self._spi_on_message = callback
        self._on_message_changed()

    @property
    def on_failure(self) -> OnFailure | None:
        """Called as ``on_failure(exception, traceback)`` when receiving fails."""
        return self._spi_on_failure

    @on_failure.setter
    def on_failure(self, callback: OnFailure | None) -> None:
        self._spi_on_failure = callback

    def _on_message_changed(self) -> None:
        """Hook: ``on_message`` was just set (or unset)."""

    def deliver(self, value: bytes, topic: str | None, raw: Any) -> bool:
        """Hand one message to ``on_message``; False when none is set.

        An exception raised by ``on_message`` is counted in
        :attr:`callback_errors` and passed to :meth:`fail`: it never reaches
        the caller's thread.
        """
        callback = self._spi_on_message
        if callback is None:
            return False
        try:
            callback(value, topic, raw)
        except Exception as exc:
            self.callback_errors += 1
            self.fail(exc)
        return True

    def fail(self, exc: BaseException) -> None:
        """Pass ``exc`` to ``on_failure``; logged when none is set or it raises."""
        callback = self._spi_on_failure
        log = logging.getLogger(type(self).__module__.partition(".")[0])
        if callback is None:
            log.error("%s (set on_failure to handle it)", exc)
            return
        try:
            callback(exc, exc.__traceback__)
        except Exception:
            log.exception("on_failure raised")


class PluginAsyncMessageWriter(_PluginBase):
    """An asynchronous writer backend."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the broker."""

    @abstractmethod
    def close(self) -> None:
        """Flush pending messages and disconnect; must be safe to call twice."""

    @abstractmethod
    def publish(self, message: bytes) -> Any:
        """Start sending ``message``; return a Promise (or Future) at once."""


class PluginValueType(ABC):
    """A value type: how user objects become bytes and back.

    Constructed with the ``args`` of the ``value_type`` parameter as keyword
    arguments. A property returning ``None`` means "pass bytes through".
    """

    @property
    @abstractmethod
    def serializer(self) -> Callable[[Any], bytes] | None:
        """Turn a user object into bytes."""

    @property
    @abstractmethod
    def deserializer(self) -> Callable[[bytes], Any] | None:
        """Turn bytes back into a user object."""


class PluginCompression(ABC):
    """A compression algorithm, constructed as ``cls(level=..., params=...)``."""

    @property
    @abstractmethod
    def compressor(self) -> Callable[[bytes], bytes]:
        """Compress one message."""

    @property
    @abstractmethod
    def decompressor(self) -> Callable[[bytes], bytes]:
        """Decompress one message."""


def __getattr__(name: str) -> Any:
    # PublishPromise needs the promise library, slow to import: load it on first use.
    if name == "PublishPromise":
        from sinetstream._promise import SinetPromise

        return SinetPromise
    raise AttributeError(f"module 'sinetstream.spi' has no attribute {name!r}")
