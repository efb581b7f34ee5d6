"""The four user-facing classes: readers and writers, sync and async.

A message's path is one straight line: ``publish`` → :class:`~._codec.Encoder`
→ backend ``publish``; backend iterator / callback → :class:`~._codec.Decoder`
→ :class:`Message`. Everything that can be done once (config, plugin class,
cipher, compressor) is done when the object is built or opened.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from . import _config
from ._config import Consistency, ResolvedConfig
from ._message import Message
from ._metrics import Metrics, MetricsRecorder
from ._registry import instantiate_backend, registry
from ._wire import timestamp_us
from .error import (
    AlreadyConnectedError,
    InvalidArgumentError,
    InvalidMessageError,
    NotOpenError,
    SinetError,
)
from .spi import PluginMessage

if TYPE_CHECKING:
    from ._codec import Decoder, Encoder
    from ._promise import SinetPromise

__all__ = [
    "AsyncMessageReader",
    "AsyncMessageWriter",
    "MessageReader",
    "MessageWriter",
]

_log = logging.getLogger("sinetstream")

#: What a reader does with a message it cannot decode: ``raise`` (the default,
#: as SINETStream 1.10) or ``skip`` (count it in the metrics, log it, go on).
_ON_INVALID = ("raise", "skip")

_USAGE = """\
{cls}(service=None, {topic_arg}=None, config=None, config_file=None, **kwargs)
    service            name of a service in the config file (optional if there is one)
    {topic_arg:<18} {topic_help}
    config_file        path of a YAML config file (default: ./.sinetstream_config.yml,
                       then ~/.config/sinetstream/config.yml)
    no_config=True     use only the keyword arguments, read no file
  keyword arguments (override the config file):
    type               backend: queue, kafka, mqtt, or any installed plugin
    brokers            "host:port" or a list of them
    consistency        AT_MOST_ONCE | AT_LEAST_ONCE | EXACTLY_ONCE
    client_id          client name (default: sinetstream-<uuid4>)
    value_type         byte_array (default) | text | an installed value-type plugin
    value_{ser:<13}callable overriding value_type
    data_compression   true to compress; compression: {{algorithm: gzip|zstd, level: N}}
    data_encryption    true to encrypt; crypto: {{algorithm: AES, mode: GCM, password: ...}}
    user_data_only     true to send the bare payload (no header, no timestamp)
    message_format     3 (default) or 2{extra}
    type_spec          backend-specific parameters (config version 3)
"""


_new_bytes = bytes.__new__


class _MessageIO:
    """What the four classes share: config, plugin lifecycle, metrics, info."""

    _group: ClassVar[str]
    _is_reader: ClassVar[bool]
    #: Library defaults, the bottom layer of every merge.
    default_params: ClassVar[Mapping[str, Any]] = _config.DEFAULT_PARAMS

    def __init__(
        self,
        service: str | None,
        topic_arg: Any,
        config: str | None,
        config_file: Any,
        kwargs: dict[str, Any],
    ) -> None:
        self._lock = threading.RLock()
        self._plugin: Any = None
        self._resolved: ResolvedConfig = _config.resolve(service, config, config_file, kwargs)
        params = self._resolved.params
        self._where = self._resolved.where()
        self._set_topics(topic_arg, params)
        self._plugin_class = registry(self._group).get(params["type"])
        self._metrics = MetricsRecorder()
        self._params_template = params
        self.params: dict[str, Any] = params
        self._build_codec(params)
        # Like SINETStream 1.10, build the plugin now so parameter errors surface here.
        self._plugin = self._new_plugin()

    # -- construction helpers --------------------------------------------------------------

    def _set_topics(self, topic_arg: Any, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _build_codec(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _codec(self, factory: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Any:
        """Build the Encoder or Decoder; its errors name the file and service."""
        try:
            return factory(params)
        except SinetError as exc:
            raise type(exc)(f"{self._where}{exc}") from exc

    def _new_plugin(self) -> Any:
        resolved = self._resolved
        resolved.params = _config.copy_params(self._params_template)
        _config.write_inline_files(resolved)
        self.params = resolved.params
        try:
            return instantiate_backend(self._plugin_class, resolved.version, self.params)
        except BaseException:
            _config.remove_temp_files(resolved.temp_files)
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Any:
        """Connect to the broker; returns ``self``. A closed object can be opened again."""
        with self._lock:
            if self._opened:
                raise AlreadyConnectedError(f"{self._where}{type(self).__name__} is already open")
            if self._plugin is None:
                self._plugin = self._new_plugin()
            self._before_open(self._plugin)
            try:
                self._plugin.open()
            except SinetError:
                self._metrics.error()
                self._discard_plugin()
                raise
            except Exception as exc:
                self._metrics.error()
                self._discard_plugin()
                from .error import ConnectionError as SinetConnectionError

                raise SinetConnectionError(
                    f"{self._where}cannot open the {self.params['type']} backend: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self._opened = True
            return self

    _opened = False

    def _before_open(self, plugin: Any) -> None:
        """Hook for subclasses: wire callbacks before the plugin opens."""

    def _discard_plugin(self) -> None:
        plugin, self._plugin = self._plugin, None
        try:
            if plugin is not None:
                plugin.close()
        except Exception:
            _log.debug("error while closing a plugin that failed to open", exc_info=True)
        finally:
            _config.remove_temp_files(self._resolved.temp_files)

    def close(self) -> None:
        """Flush and disconnect. Safe to call twice; ``open()`` may follow."""
        with self._lock:
            if self._plugin is None:
                return
            self._raw_at_close = self._raw_metrics()
            self._opened = False
            plugin, self._plugin = self._plugin, None
            try:
                plugin.close()
            finally:
                _config.remove_temp_files(self._resolved.temp_files)

    _raw_at_close: Any = None

    def __enter__(self) -> Any:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        temp = getattr(getattr(self, "_resolved", None), "temp_files", None)
        if temp:
            _config.remove_temp_files(temp)

    def _require_open(self) -> Any:
        plugin = self._plugin
        if plugin is None or not self._opened:
            raise NotOpenError(
                f"{self._where}{type(self).__name__} is not open: call open() or use 'with'"
            )
        return plugin

    # -- properties ---------------------------------------------------------------------------

    @property
    def service(self) -> str | None:
        """The service name (``None`` with ``no_config``)."""
        return self._resolved.service

    @property
    def client_id(self) -> str:
        """The client id: the one given, or ``sinetstream-<uuid4>``."""
        return str(self.params["client_id"])

    @property
    def consistency(self) -> Consistency:
        """The delivery guarantee asked of the broker."""
        c: Consistency = self.params["consistency"]
        return c

    @property
    def value_type(self) -> str:
        """The value type's name (``byte_array``, ``text``, or a plugin's)."""
        vt = self.params.get("value_type")
        if isinstance(vt, str):
            return vt
        if isinstance(vt, Mapping):
            return str(vt.get("name"))
        return str(getattr(vt, "name", vt))

    # -- metrics and info -----------------------------------------------------------------------

    def _raw_metrics(self) -> Any:
        plugin = self._plugin
        fn = getattr(plugin, "metrics", None)
        if plugin is None or fn is None:
            return None
        try:
            return fn()
        except Exception:
            _log.debug("backend metrics() failed", exc_info=True)
            return None

    @property
    def metrics(self) -> Metrics:
        """A snapshot of the counters; ``raw`` holds the backend's own metrics."""
        return self._metrics.snapshot(self._raw_metrics())

    def reset_metrics(self, reset_raw: bool = False) -> None:
        """Zero the counters; with ``reset_raw`` also reset the backend's."""
        self._metrics.reset()
        if reset_raw and self._plugin is not None:
            fn = getattr(self._plugin, "reset_metrics", None)
            if fn is not None:
                fn()

    def info(self, name: str = "", **kwargs: Any) -> Any:
        """Information about this object; ``name`` selects a dotted path.

        ``info()`` returns ``{"client_id", "metrics", <type>: backend info}``;
        ``info("client_id")`` or ``info("<type>.<key>")`` returns one part.
        """
        path = [p for p in name.split(".") if p] if name else []
        backend_type = self.params["type"]
        head = path[0] if path else None
        if head is None or head == backend_type:
            plugin_info = None
            fn = getattr(self._plugin, "info", None)
            if fn is not None:
                plugin_info = fn(path[1:], kwargs)
            if head is not None:
                return plugin_info
            return {"client_id": self.client_id, "metrics": self.metrics, backend_type: plugin_info}
        if head == "client_id":
            return self.client_id
        if head == "metrics":
            m = self.metrics
            return getattr(m, path[1]) if len(path) > 1 else m
        return None

    @classmethod
    def usage(cls) -> str:
        """A cheat sheet of the constructor's parameters."""
        if cls._is_reader:
            return _USAGE.format(
                cls=cls.__name__,
                topic_arg="topics",
                topic_help="a topic or a list of topics",
                ser="deserializer",
                extra="\n    receive_timeout_ms stop iterating after this long without a message"
                "\n    on_invalid_message raise (default) | skip undecodable messages",
            )
        return _USAGE.format(
            cls=cls.__name__,
            topic_arg="topic",
            topic_help="the topic to publish to",
            ser="serializer",
            extra="",
        )

    def _debug_get_plugin(self) -> Any:
        return self._plugin

    def __repr__(self) -> str:
        state = "open" if self._opened else "closed"
        return (
            f"<{type(self).__name__} service={self.service!r} type={self.params.get('type')!r} "
            f"{state}>"
        )


class _ReaderBase(_MessageIO):
    _is_reader = True

    def __init__(
        self,
        service: str | None = None,
        topics: str | list[str] | None = None,
        config: str | None = None,
        config_file: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(service, topics, config, config_file, kwargs)

    def _set_topics(self, topic_arg: Any, params: dict[str, Any]) -> None:
        topics = topic_arg
        if topics is None:
            topics = params.get("topics")
        if topics is None:
            topics = params.get("topic")
        if isinstance(topics, str):
            topic_list = [topics]
        elif isinstance(topics, (list, tuple)):
            if not topics or not all(isinstance(t, str) and t for t in topics):
                raise InvalidArgumentError(
                    f"{self._where}topics: give one topic or a non-empty list of topic names"
                )
            topic_list = list(topics)
        elif topics is None:
            topic_list = []
        else:
            raise InvalidArgumentError(
                f"{self._where}topics: {topics!r} is neither a topic name nor a list of them"
            )
        self._topics: str | list[str] | None = (
            list(topic_list) if isinstance(topics, (list, tuple)) else topics
        )
        params["topics"] = topic_list
        if len(topic_list) == 1:
            params["topic"] = topic_list[0]
        else:
            params.pop("topic", None)
        timeout = params.get("receive_timeout_ms", math.inf)
        if timeout is None:
            timeout = math.inf
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise InvalidArgumentError(
                f"{self._where}receive_timeout_ms: {timeout!r} must be a number >= 0"
            )
        params["receive_timeout_ms"] = timeout
        on_invalid = params.get("on_invalid_message", "raise")
        if on_invalid not in _ON_INVALID:
            raise InvalidArgumentError(
                f"{self._where}on_invalid_message: {on_invalid!r} must be 'raise' or 'skip'"
            )
        self._skip_invalid = on_invalid == "skip"

    def _build_codec(self, params: dict[str, Any]) -> None:
        from ._codec import Decoder

        self._decoder: Decoder = self._codec(Decoder, params)
        self._decode = self._decoder.decode
        self.value_deserializer: Callable[[bytes], Any] | None = params.get("value_deserializer")

    @property
    def topics(self) -> str | list[str] | None:
        """The topic or topics given."""
        return self._topics

    @property
    def receive_timeout_ms(self) -> float:
        """Iteration ends after this many milliseconds without a message."""
        t: float = self.params["receive_timeout_ms"]
        return t

    def seek_to_beginning(self) -> None:
        """Move to the oldest retained message (backends that keep messages)."""
        self._seek("seek_to_beginning")

    def seek_to_end(self) -> None:
        """Skip every message retained so far (backends that keep messages)."""
        self._seek("seek_to_end")

    def _seek(self, name: str) -> None:
        plugin = self._require_open()
        fn = getattr(plugin, name, None)
        if fn is None:
            raise SinetError(f"{self._where}the {self.params['type']} backend cannot {name}")
        fn()

    def _decode_message(self, data: bytes, topic: str | None, raw: Any) -> Message | None:
        """Decode one received message; ``None`` when it is skipped as invalid."""
        try:
            value, tstamp, unc, comp = self._decode(data, getattr(data, "timestamp", 0))
        except InvalidMessageError as exc:
            if self._counted_invalid(exc, f" on topic {topic!r}"):
                return None
            raise
        self._metrics.message(len(data), unc, comp)
        return Message(value, topic, tstamp, raw)

    def _counted_invalid(self, exc: InvalidMessageError, where: str = "") -> bool:
        """Count an invalid message; True when it is skipped (``on_invalid_message: skip``).

        Also for what a backend received but cannot hand over (a corrupt Kafka
        batch, which the backend has moved past): it raises or reports
        InvalidMessageError, and it is treated as an undecodable message.
        """
        self._metrics.error(invalid_message=True)
        if self._skip_invalid:
            _log.warning("skipped an invalid message%s: %s", where, exc)
            return True
        return False


class MessageReader(_ReaderBase):
    """Receive messages by iterating: ``for message in reader: ...``.

    Iteration ends after ``receive_timeout_ms`` without a message (default:
    never); iterating again continues with later messages.
    """

    _group = "reader"
    _iterator: Iterator[Any] | None = None

    def close(self) -> None:
        """Disconnect. Safe to call twice; ``open()`` may follow."""
        self._iterator = None
        super().close()

    def __iter__(self) -> MessageReader:
        plugin = self._require_open()
        self._iterator = iter(plugin)
        return self

    def __next__(self) -> Message:
        while True:
            it = self._iterator
            if it is None:
                it = self._iterator = iter(self._require_open())
            try:
                data, topic, raw = next(it)
            except StopIteration:
                self._iterator = None
                raise
            except RuntimeError as exc:
                self._iterator = None
                # A generator that ends with ``raise StopIteration`` (as the v1.2
                # guide's sample does) surfaces as RuntimeError since PEP 479.
                if isinstance(exc.__cause__, StopIteration):
                    raise StopIteration from None
                self._metrics.error()
                raise
            except InvalidMessageError as exc:
                self._iterator = None
                if self._counted_invalid(exc):
                    continue
                raise
            except SinetError:
                self._iterator = None
                self._metrics.error()
                raise
            except Exception as exc:
                self._iterator = None
                self._metrics.error()
                raise SinetError(
                    f"{self._where}receiving failed: {type(exc).__name__}: {exc}"
                ) from exc
            message = self._decode_message(data, topic, raw)
            if message is not None:
                return message


class AsyncMessageReader(_ReaderBase):
    """Receive messages through callbacks, or with ``async for``.

    Set ``on_message = f`` (called as ``f(message)`` on a backend thread) and
    optionally ``on_failure = g`` (called as ``g(exception, traceback)``).
    Messages that arrive before ``on_message`` is set are kept (up to
    ``pending_limit``) and handed over when it is.
    """

    _group = "async_reader"
    #: Messages kept while no ``on_message`` callback is set.
    pending_limit = 10_000

    def __init__(
        self,
        service: str | None = None,
        topics: str | list[str] | None = None,
        config: str | None = None,
        config_file: Any = None,
        **kwargs: Any,
    ) -> None:
        self._on_message: Callable[[Message], None] | None = None
        self._on_failure: Callable[[BaseException, TracebackType | None], None] | None = None
        self._pending: deque[Message] = deque()
        self._pending_lock = threading.Lock()
        super().__init__(service, topics, config, config_file, **kwargs)

    @property
    def on_message(self) -> Callable[[Message], None] | None:
        """The callback called as ``f(message)`` for each message."""
        return self._on_message

    @on_message.setter
    def on_message(self, callback: Callable[[Message], None] | None) -> None:
        with self._pending_lock:
            self._on_message = callback
            if callback is None:
                return
            backlog = list(self._pending)
            self._pending.clear()
        for message in backlog:
            self._deliver(callback, message)

    @property
    def on_failure(self) -> Callable[[BaseException, TracebackType | None], None] | None:
        """The callback called as ``f(exception, traceback)`` when receiving fails."""
        return self._on_failure

    @on_failure.setter
    def on_failure(
        self, callback: Callable[[BaseException, TracebackType | None], None] | None
    ) -> None:
        self._on_failure = callback

    def _before_open(self, plugin: Any) -> None:
        plugin.on_message = self._received
        plugin.on_failure = self._failed

    def _received(self, data: bytes, topic: str | None, raw: Any) -> None:
        try:
            message = self._decode_message(data, topic, raw)
        except InvalidMessageError as exc:
            self._report(exc, exc.__traceback__)
            return
        if message is None:
            return
        callback = self._on_message
        if callback is None:
            with self._pending_lock:
                callback = self._on_message
                if callback is None:
                    if len(self._pending) >= self.pending_limit:
                        self._metrics.error()
                        _log.warning("no on_message callback set: dropped a message on %r", topic)
                    else:
                        self._pending.append(message)
                    return
        self._deliver(callback, message)

    def _deliver(self, callback: Callable[[Message], None], message: Message) -> None:
        try:
            callback(message)
        except Exception as exc:
            _log.error("on_message callback raised %r", exc, exc_info=True)
            self._report(exc, exc.__traceback__, count=True)

    def _failed(self, error: BaseException, tb: TracebackType | None = None) -> None:
        if isinstance(error, InvalidMessageError):
            if not self._counted_invalid(error):
                self._report(error, tb)
            return
        self._report(error, tb, count=True)

    def _report(self, error: BaseException, tb: TracebackType | None, count: bool = False) -> None:
        if count:
            self._metrics.error()
        callback = self._on_failure
        if callback is None:
            _log.error("receiving failed: %s", error)
            return
        try:
            callback(error, tb)
        except Exception:
            _log.exception("on_failure callback raised")

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._aiterate()

    async def _aiterate(self) -> AsyncIterator[Message]:
        import asyncio

        self._require_open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        previous_message, previous_failure = self._on_message, self._on_failure

        def put(item: Message | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def failed(error: BaseException, tb: TracebackType | None) -> None:
            put(error)

        self._on_failure = failed
        self.on_message = put
        timeout_ms = self.receive_timeout_ms
        timeout = None if math.isinf(timeout_ms) else timeout_ms / 1000
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._on_failure = previous_failure
            self.on_message = previous_message


class _WriterBase(_MessageIO):
    _is_reader = False

    def __init__(
        self,
        service: str | None = None,
        topic: str | None = None,
        config: str | None = None,
        config_file: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(service, topic, config, config_file, kwargs)

    def _set_topics(self, topic_arg: Any, params: dict[str, Any]) -> None:
        topic = topic_arg if topic_arg is not None else params.get("topic")
        if isinstance(topic, (list, tuple)):
            if len(topic) != 1:
                raise InvalidArgumentError(
                    f"{self._where}topic: a writer publishes to exactly one topic, got {len(topic)}"
                )
            topic = topic[0]
        if topic is not None and (not isinstance(topic, str) or not topic):
            raise InvalidArgumentError(f"{self._where}topic: {topic!r} is not a topic name")
        self._topic: str | None = topic
        params["topic"] = topic
        params.pop("topics", None)

    def _build_codec(self, params: dict[str, Any]) -> None:
        from ._codec import Encoder

        self._encoder: Encoder = self._codec(Encoder, params)
        self._encode = self._encoder.encode
        self.value_serializer: Callable[[Any], bytes] | None = params.get("value_serializer")

    @property
    def topic(self) -> str | None:
        """The topic messages are published to."""
        return self._topic

    def _encode_message(self, msg: Any, timestamp: float | None) -> tuple[PluginMessage, int, int]:
        tstamp = timestamp_us(timestamp)
        try:
            wire, unc, comp = self._encode(msg, tstamp)
        except SinetError:
            self._metrics.error()
            raise
        # PluginMessage(wire, tstamp) without its Python-level __new__ (per message).
        message: PluginMessage = _new_bytes(PluginMessage, wire)
        message.timestamp = tstamp
        return message, unc, comp


class MessageWriter(_WriterBase):
    """Publish messages: ``writer.publish(value)`` blocks until the broker has it."""

    _group = "writer"

    def publish(self, msg: Any, timestamp: float | None = None, **kwargs: Any) -> Any:
        """Publish one message; returns the backend's receipt.

        ``timestamp`` is seconds since the epoch (default: now). Extra keyword
        arguments (e.g. Kafka's ``key``) go to the backend.
        """
        plugin = self._require_open()
        message, unc, comp = self._encode_message(msg, timestamp)
        try:
            result = plugin.publish(message, **kwargs) if kwargs else plugin.publish(message)
        except SinetError:
            self._metrics.error()
            raise
        except Exception as exc:
            self._metrics.error()
            raise SinetError(f"{self._where}publish failed: {type(exc).__name__}: {exc}") from exc
        self._metrics.message(len(message), unc, comp)
        return result


class AsyncMessageWriter(_WriterBase):
    """Publish without waiting: ``publish()`` returns a Promise at once.

    The Promise (``promise.Promise``) supports ``.then(ok, err)``, ``.catch``,
    ``.get(timeout)``, and ``await`` from asyncio. It rejects with a
    :class:`SinetError`; failures are counted in the metrics.
    """

    _group = "async_writer"

    def _before_open(self, plugin: Any) -> None:
        from . import _promise  # the promise library is slow to import: not before use

        self._promise = _promise

    def _count_error(self, error: SinetError) -> None:
        self._metrics.error()

    def publish(self, msg: Any, timestamp: float | None = None, **kwargs: Any) -> SinetPromise:
        """Start publishing one message; returns a Promise settled by the broker's answer.

        A value that cannot be encoded gives an already rejected Promise.
        """
        plugin = self._require_open()
        try:
            message, unc, comp = self._encode_message(msg, timestamp)
        except SinetError as exc:
            return self._promise.rejected_promise(exc)
        try:
            pending = plugin.publish(message, **kwargs) if kwargs else plugin.publish(message)
        except Exception as exc:
            self._metrics.error()
            error = (
                exc
                if isinstance(exc, SinetError)
                else SinetError(f"{self._where}publish failed: {type(exc).__name__}: {exc}")
            )
            return self._promise.rejected_promise(error)
        self._metrics.message(len(message), unc, comp)
        return self._promise.settle_from(pending, self._count_error)
