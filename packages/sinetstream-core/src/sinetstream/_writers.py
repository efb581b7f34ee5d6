"""The two writers, side by side: :class:`MessageWriter` and :class:`AsyncMessageWriter`.

Both share :class:`_WriterBase` (the topic, the Encoder, ``_encode_message``);
they differ only in what ``publish`` returns: the sync writer waits for the
backend's receipt, the async writer returns a Promise at once.
"""

from __future__ import annotations

from collections.abc import Callable
from time import time_ns as _time_ns
from typing import TYPE_CHECKING, Any

from ._message_io import MessageIO
from ._wire import timestamp_us
from .error import InvalidArgumentError, SinetError
from .spi import PluginMessage

if TYPE_CHECKING:
    from ._pipeline import Encoder
    from ._promise import SinetPromise

__all__ = ["AsyncMessageWriter", "MessageWriter"]

_new_bytes = bytes.__new__


class _WriterBase(MessageIO):
    """What both writers share: the topic, the Encoder, and ``_encode_message``."""

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
        # The pipeline pulls in cryptography and zstandard: not on ``import sinetstream``.
        from ._pipeline import Encoder

        self._encoder: Encoder = self._codec(Encoder, params)
        self._encode = self._encoder.encode
        #: The effective serializer, as in 1.10: the given one, else the value type's.
        self.value_serializer: Callable[[Any], Any] | None = self._encoder.serializer

    @property
    def topic(self) -> str | None:
        """The topic messages are published to."""
        return self._topic

    def _encode_message(self, msg: Any, timestamp: float | None) -> tuple[PluginMessage, int, int]:
        tstamp = _time_ns() // 1000 if timestamp is None else timestamp_us(timestamp)
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
        plugin = self._live
        if plugin is None:
            plugin = self._require_open()  # raises NotOpenError
        message, unc, comp = self._encode_message(msg, timestamp)
        try:
            result = plugin.publish(message, **kwargs) if kwargs else plugin.publish(message)
        except Exception as exc:
            raise self._failure(exc, "publish failed")  # noqa: B904 - _failure sets the cause
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
        plugin = self._live
        if plugin is None:
            plugin = self._require_open()  # raises NotOpenError
        try:
            message, unc, comp = self._encode_message(msg, timestamp)
        except SinetError as exc:
            return self._promise.rejected_promise(exc)
        try:
            pending = plugin.publish(message, **kwargs) if kwargs else plugin.publish(message)
        except Exception as exc:
            return self._promise.rejected_promise(self._failure(exc, "publish failed"))
        self._metrics.message(len(message), unc, comp)
        return self._promise.settle_from(pending, self._count_error)
