"""The stand-alone codec of SINETStream 1.10: wire messages without a broker.

:class:`SINETStreamMessageEncoder` / :class:`SINETStreamMessageDecoder` are
public (re-exported by ``sinetstream``), configured like a writer/reader but
needing no config file and no backend. They wrap the pipeline of
:mod:`._pipeline`, the same one readers and writers use.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ._message import Message, decode_message
from ._params import with_defaults
from ._pipeline import Decoder, Encoder
from ._wire import timestamp_us
from .error import AlreadyConnectedError, NotOpenError

__all__ = [
    "SINETStreamMessageDecoder",
    "SINETStreamMessageEncoder",
]


class _Lifecycle:
    """open/close/context-manager behaviour shared by the stand-alone codec classes."""

    _opened: bool
    _closed: bool

    def open(self) -> Any:
        """Mark the codec open; returns ``self``. A second ``open()`` raises."""
        if self._opened:
            raise AlreadyConnectedError(f"{type(self).__name__} is already open")
        self._opened = True
        self._closed = False
        return self

    def close(self) -> None:
        """Close the codec (idempotent); ``open()`` may be called again."""
        self._opened = False
        self._closed = True

    def _check_usable(self) -> None:
        if self._closed:
            raise NotOpenError(f"{type(self).__name__} is closed; call open() again")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SINETStreamMessageEncoder(_Lifecycle):
    """Turn values into SINETStream wire messages without a broker.

    Takes the writer parameters as keyword arguments (``value_type``,
    ``data_encryption``, ``crypto``, ``data_compression``, ``compression``,
    ``message_format``, ``user_data_only``, ``value_serializer``); other
    keys are ignored. Usable directly or as a context manager.
    """

    def __init__(self, **params: Any) -> None:
        self._encoder = Encoder(with_defaults(params))
        self._encode = self._encoder.encode
        self._opened = False
        self._closed = False

    def __enter__(self) -> SINETStreamMessageEncoder:
        self.open()
        return self

    def encode(self, msg: Any, timestamp: float | None = None) -> bytes:
        """The wire bytes of ``msg``; ``timestamp`` in seconds (default: now)."""
        if self._closed:
            self._check_usable()
        return self._encode(msg, timestamp_us(timestamp))[0]

    def __repr__(self) -> str:
        return f"SINETStreamMessageEncoder({self._encoder!r})"


class SINETStreamMessageDecoder(_Lifecycle):
    """Turn SINETStream wire messages back into :class:`~sinetstream.Message` objects.

    Takes the reader parameters as keyword arguments; other keys are ignored.
    """

    def __init__(self, **params: Any) -> None:
        self._decoder = Decoder(with_defaults(params))
        self._decode = self._decoder.decode
        self._opened = False
        self._closed = False

    def __enter__(self) -> SINETStreamMessageDecoder:
        self.open()
        return self

    def decode(self, data: bytes) -> Message:
        """Decode ``data`` into a :class:`Message` (topic ``None``, ``raw`` = ``data``).

        Raises :class:`InvalidMessageError` for an undecodable message.
        """
        if self._closed:
            self._check_usable()
        return decode_message(self._decode, data, None, data)

    def __repr__(self) -> str:
        return f"SINETStreamMessageDecoder({self._decoder!r})"
