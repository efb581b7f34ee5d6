"""The two readers, side by side: :class:`MessageReader` and :class:`AsyncMessageReader`.

Both share :class:`_ReaderBase` (topics, ``receive_timeout_ms``,
``on_invalid_message``, the Decoder and seeking); they differ only in how a
message reaches the user. The sync reader pulls: ``__next__`` takes
``(data, topic, raw)`` from the backend's iterator. The async reader is
pushed: the backend calls ``_received`` on its own thread. Both then run the
same ``_decode_message`` → :class:`Message`. ``async for`` over an async
reader is the asyncio adapter in :mod:`._aio`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._message import Message, decode_message
from ._message_io import MessageIO
from .error import (
    InvalidArgumentError,
    InvalidMessageError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from ._pipeline import Decoder

__all__ = ["AsyncMessageReader", "MessageReader"]

_log = logging.getLogger("sinetstream")

#: What a reader does with a message it cannot decode: ``raise`` (the default,
#: as SINETStream 1.10) or ``skip`` (count it in the metrics, log it, go on).
_ON_INVALID = ("raise", "skip")


class _ReaderBase(MessageIO):
    """What both readers share: topics, timeout, invalid-message policy, Decoder, seeking."""

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
        # The pipeline pulls in cryptography and zstandard: not on ``import sinetstream``.
        from ._pipeline import Decoder

        self._decoder: Decoder = self._codec(Decoder, params)
        self._decode = self._decoder.decode
        #: The effective deserializer, as in 1.10: the given one, else the value type's.
        self.value_deserializer: Callable[[bytes], Any] | None = self._decoder.deserializer

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
            raise UnsupportedOperationError(
                f"{self._where}the {self.params['type']} backend cannot {name}"
            )
        fn()

    def _decode_message(self, data: bytes, topic: str | None, raw: Any) -> Message | None:
        """Decode one received message; ``None`` when it is skipped as invalid."""
        try:
            return decode_message(self._decode, data, topic, raw, self._metrics)
        except InvalidMessageError as exc:
            if self._counted_invalid(exc, f" on topic {topic!r}"):
                return None
            raise

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
        self._iterator = self._plugin_iterator()
        return self

    def _plugin_iterator(self) -> Iterator[Any]:
        """A fresh iterator of the plugin; its failure is a receiving failure."""
        plugin = self._require_open()
        try:
            return iter(plugin)
        except Exception as exc:
            raise self._failure(exc, "receiving failed")  # noqa: B904 - _failure sets the cause

    def __next__(self) -> Message:
        while True:
            it = self._iterator
            if it is None:
                it = self._iterator = self._plugin_iterator()
            try:
                data, topic, raw = next(it)
            except StopIteration:
                self._iterator = None
                raise
            except InvalidMessageError as exc:
                self._iterator = None
                if self._counted_invalid(exc):
                    continue
                raise
            except Exception as exc:
                self._iterator = None
                # A generator that ends with ``raise StopIteration`` (as the v1.2
                # guide's sample does) surfaces as RuntimeError since PEP 479.
                if isinstance(exc, RuntimeError) and isinstance(exc.__cause__, StopIteration):
                    raise StopIteration from None
                raise self._failure(exc, "receiving failed")  # noqa: B904 - _failure sets the cause
            message = self._decode_message(data, topic, raw)
            if message is not None:
                return message


class AsyncMessageReader(_ReaderBase):
    """Receive messages through callbacks, or with ``async for``.

    Set ``on_message = f`` (called as ``f(message)`` on a backend thread) and
    optionally ``on_failure = g`` (called as ``g(exception, traceback)``).
    Messages that arrive before ``on_message`` is set are kept (up to
    ``pending_limit``) and handed over when it is.

    An exception raised by ``on_message`` itself is passed to ``on_failure``
    (or logged when none is set) and counted in
    ``metrics.callback_error_count_total``, not in ``error_count_total``: it is
    a bug of the callback, not a messaging failure. SINETStream 1.10 lost it
    silently and counted nothing.
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
            # The user's own bug, not a messaging error: to on_failure (1.10 lost
            # it), counted apart from error_count_total (which 1.10 left alone).
            _log.error("on_message callback raised %r", exc, exc_info=True)
            self._metrics.callback_error()
            self._report(exc, exc.__traceback__)

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
        from ._aio import iterate_messages  # asyncio is slow to import: not before use

        return iterate_messages(self)
