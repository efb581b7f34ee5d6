"""The message pipeline: value ↔ wire bytes, byte-compatible with SINETStream 1.10.

Writer: serializer → compressor → Avro wrap (timestamp) → encrypt → v3 header.
Reader: the exact reverse; a v3 reader also accepts version 2 messages.
:class:`Encoder` and :class:`Decoder` are built once per writer/reader (all
parameter checks, key derivation and cipher set-up happen there);
``encode``/``decode`` are the per-message hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._compression import resolve_compression
from ._crypto import MessageDecryptor, MessageEncryptor
from ._crypto_config import parse_crypto, warn_if_unauthenticated
from ._crypto_modes import truncated
from ._fastpath import DecodeFn, EncodeFn
from ._fastpath import decoder as fast_decoder
from ._fastpath import encoder as fast_encoder
from ._message import attached_timestamp
from ._value_type import resolve_value_type
from ._wire import (
    AVRO_PREFIX,
    V3_MARKER,
    AvroUnpacker,
    TimestampEncoder,
    v3_plain_prefix,
)
from .error import InvalidArgumentError, InvalidMessageError, SinetError

__all__ = ["Decoder", "Encoder", "flag_param"]

_V3_HEADER_LEN = 6
# Where the timestamp starts in an unencrypted v3 message: after the header and Avro prefix.
_PLAIN_BODY_AT = 16


def flag_param(params: Mapping[str, Any], name: str) -> bool:
    """The boolean parameter ``name`` (true/false or 1/0; missing or null is false)."""
    value = params.get(name, False)
    if value is None:
        return False
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise InvalidArgumentError(f"{name}: must be true or false, got {value!r}")


def _message_format(params: Mapping[str, Any]) -> int:
    value = params.get("message_format", 3)
    if value is None:
        return 3
    if isinstance(value, bool) or value not in (2, 3):
        raise InvalidArgumentError(f"message_format: {value!r} is not one of 2, 3")
    return int(value)


def _callable_param(params: Mapping[str, Any], name: str) -> Callable[..., Any] | None:
    fn = params.get(name)
    if fn is not None and not callable(fn):
        raise InvalidArgumentError(f"{name}: must be a callable, got {type(fn).__name__}")
    return fn


class Encoder:
    """Built once when a writer opens; :attr:`encode` is the per-message hot path.

    Raises :class:`InvalidArgumentError` for bad parameters.
    """

    __slots__ = (
        "_compress",
        "_custom_serializer",
        "_encrypt",
        "_plain_prefix",
        "_serialize",
        "_stamp",
        "_user_data_only",
        "compression",
        "encode",
        "encryption",
        "key_version",
        "message_format",
        "value_type",
    )

    #: ``encode(value, timestamp_us)``: ``(wire_bytes, uncompressed_size,
    #: compressed_size)``. The sizes are measured after the serializer and after
    #: the compressor (equal when compression is off). Raises
    #: :class:`InvalidMessageError` if the value cannot be serialized to bytes.
    encode: EncodeFn

    def __init__(self, params: Mapping[str, Any]) -> None:
        vt = resolve_value_type(params.get("value_type"))
        self.value_type = vt.name
        custom = _callable_param(params, "value_serializer")
        self._custom_serializer = custom is not None
        self._serialize = custom or vt.serializer
        self.message_format = _message_format(params)
        self._user_data_only = flag_param(params, "user_data_only")
        self._compress: Callable[[bytes], bytes] | None = None
        self.compression: str | None = None
        if flag_param(params, "data_compression"):
            comp = resolve_compression(params.get("compression"), writer=True)
            self._compress = comp.compress
            self.compression = comp.name
        encryptor: MessageEncryptor | None = None
        self.encryption: str | None = None
        self.key_version = 0
        if flag_param(params, "data_encryption"):
            config = parse_crypto(params.get("crypto"))
            warn_if_unauthenticated(config, "writer")
            encryptor = MessageEncryptor(config)
            self.encryption = config.describe()
            self.key_version = encryptor.key_version
        # Constant leading bytes, computed once.
        header = b""
        if self.message_format >= 3 and not self._user_data_only:
            header = V3_MARKER + self.key_version.to_bytes(2, "big")
        self._plain_prefix = header + AVRO_PREFIX
        # header ‖ encrypt(data) in one call, or None when encryption is off
        self._encrypt = None if encryptor is None else encryptor.sealer(header)
        self._stamp = TimestampEncoder().encode
        self.encode = self._encode_user_data
        if not self._user_data_only:
            self.encode = fast_encoder(
                prefix=self._plain_prefix,
                serialize=self._serialize,
                as_bytes=self._as_bytes,
                serialize_error=self._serialize_error,
                compress=self._compress,
                compress_error=self._compress_error,
                stamp=self._stamp,
                seal=self._encrypt,
            )

    def _encode_user_data(self, value: Any, timestamp_us: int) -> tuple[bytes, int, int]:
        """:attr:`encode` with ``user_data_only``: the (compressed, encrypted) payload alone."""
        serialize = self._serialize
        if serialize is not None:
            try:
                payload = serialize(value)
            except SinetError:
                raise
            except Exception as exc:
                raise self._serialize_error(value, exc) from exc
        else:
            payload = value
        if type(payload) is not bytes:
            payload = self._as_bytes(payload)
        uncompressed = len(payload)
        if self._compress is not None:
            try:
                payload = self._compress(payload)
            except SinetError:
                raise
            except Exception as exc:
                raise self._compress_error(exc) from exc
        encrypt = self._encrypt
        return (payload if encrypt is None else encrypt(payload)), uncompressed, len(payload)

    @property
    def serializer(self) -> Callable[[Any], Any] | None:
        """The effective serializer: ``value_serializer`` if given, else the value type's."""
        return self._serialize

    def _serialize_error(self, value: Any, exc: Exception) -> InvalidMessageError:
        return InvalidMessageError(
            f"value_type {self.value_type}: cannot serialize a {type(value).__name__}: {exc}"
        )

    def _compress_error(self, exc: Exception) -> InvalidMessageError:
        return InvalidMessageError(f"compression {self.compression}: cannot compress: {exc}")

    def _as_bytes(self, payload: Any) -> bytes:
        if isinstance(payload, (bytes, bytearray, memoryview)):
            return bytes(payload)
        if self._serialize is None:
            raise InvalidMessageError(
                f"non-bytes message: value_type {self.value_type} needs bytes, got "
                f"{type(payload).__name__} (use value_type text for str, or a value_serializer)"
            )
        if self._custom_serializer:
            raise InvalidMessageError(
                f"value_serializer doesn't return bytes: got {type(payload).__name__}"
            )
        raise InvalidMessageError(
            f"the serializer of value_type {self.value_type} returned "
            f"{type(payload).__name__}, not bytes"
        )

    def __repr__(self) -> str:
        return (
            f"Encoder(value_type={self.value_type!r}, compression={self.compression!r}, "
            f"encryption={self.encryption!r}, key_version={self.key_version}, "
            f"message_format={self.message_format}, user_data_only={self._user_data_only})"
        )


class Decoder:
    """Built once when a reader opens; :attr:`decode` is the per-message hot path."""

    __slots__ = (
        "_body",
        "_decompress",
        "_decryptor",
        "_deserialize",
        "_max_version",
        "_opener",
        "_plain_prefix",
        "_unpack",
        "_user_data_only",
        "compression",
        "decode",
        "encryption",
        "message_format",
        "value_type",
    )

    #: ``decode(message, plugin_timestamp_us=None)``: ``(value, timestamp_us,
    #: uncompressed_size, compressed_size)`` of one message. ``plugin_timestamp_us``
    #: is the timestamp used with ``user_data_only`` (default: the message's own
    #: ``timestamp``, as a :class:`PluginMessage` has, else 0). Raises
    #: :class:`InvalidMessageError` (only) for any undecodable message.
    decode: DecodeFn

    def __init__(self, params: Mapping[str, Any]) -> None:
        vt = resolve_value_type(params.get("value_type"))
        self.value_type = vt.name
        self._deserialize = _callable_param(params, "value_deserializer") or vt.deserializer
        self.message_format = _message_format(params)
        self._user_data_only = flag_param(params, "user_data_only")
        self._decompress: Callable[[bytes], bytes] | None = None
        self.compression: str | None = None
        if flag_param(params, "data_compression"):
            comp = resolve_compression(params.get("compression"), writer=False)
            self._decompress = comp.decompress
            self.compression = comp.name
        self._decryptor: MessageDecryptor | None = None
        self.encryption: str | None = None
        self._max_version = 0
        if flag_param(params, "data_encryption"):
            config = parse_crypto(params.get("crypto"))
            warn_if_unauthenticated(config, "reader")
            self._decryptor = MessageDecryptor(config)
            self.encryption = config.describe()
            self._max_version = self._decryptor.max_version
        unpacker = AvroUnpacker()
        self._unpack = unpacker.unpack
        self._body = unpacker.body
        v3 = self.message_format >= 3 and not self._user_data_only
        plain = v3 and self._decryptor is None
        self._plain_prefix = v3_plain_prefix() if plain else None
        # (header ‖ salt of the last writer, its block opener): set by _unframe
        self._opener: list[tuple[bytes, Callable[[bytes], bytes]]] = [(V3_MARKER, _no_block)]
        self.decode = self._decode
        if v3:
            self.decode = fast_decoder(
                self._decode,
                prefix=self._plain_prefix,
                opener=None if plain else self._opener,
                head_len=_V3_HEADER_LEN + (self._decryptor.salt_len if self._decryptor else 0),
                decompress=self._decompress,
                deserialize=self._deserialize,
            )

    @property
    def deserializer(self) -> Callable[[bytes], Any] | None:
        """The effective deserializer: ``value_deserializer`` if given, else the value type's."""
        return self._deserialize

    def _decode(
        self, message: bytes | bytearray | memoryview, plugin_timestamp_us: int | None = None
    ) -> tuple[Any, int, int, int]:
        """:attr:`decode` for any message (the fast path's fallback).

        Returns ``(value, timestamp_us, uncompressed_size, compressed_size)``;
        ``plugin_timestamp_us`` is the timestamp used with ``user_data_only``
        (default: the one attached to ``message``, :func:`attached_timestamp`).
        Raises :class:`InvalidMessageError` (only) for any undecodable message.
        """
        try:
            # A bytes subclass (e.g. PluginMessage) is used as is, without a copy.
            data = message if isinstance(message, bytes) else bytes(message)
            if data[:_PLAIN_BODY_AT] == self._plain_prefix:
                # The common case, recognised with one comparison: a v3 header with
                # key version 0 and the Avro prefix, to a reader without encryption.
                timestamp_us, payload = self._body(data, _PLAIN_BODY_AT)
            else:
                timestamp_us, payload = self._unframe(data, plugin_timestamp_us)
            compressed = len(payload)
            if self._decompress is not None:
                payload = self._decompress(payload)
            uncompressed = len(payload)
            deserialize = self._deserialize
            value = payload if deserialize is None else deserialize(payload)
        except InvalidMessageError:
            raise
        except Exception as exc:
            raise InvalidMessageError(
                f"cannot decode message: {type(exc).__name__}: {exc}"
            ) from exc
        return value, timestamp_us, uncompressed, compressed

    def _unframe(self, data: bytes, plugin_timestamp_us: int | None) -> tuple[int, bytes]:
        """``(timestamp_us, payload)`` of any message: v2 or v3, encrypted or not."""
        decryptor = self._decryptor
        if self._user_data_only:
            payload = data if decryptor is None else decryptor.decrypt(self._max_version, data, 0)
            if plugin_timestamp_us is None:
                plugin_timestamp_us = attached_timestamp(data)
            return plugin_timestamp_us, payload
        if self.message_format >= 3 and len(data) > _V3_HEADER_LEN and data[:4] == V3_MARKER:
            key_version = (data[4] << 8) | data[5]
            start = _V3_HEADER_LEN
        else:
            # Version 2 message (or a v2 reader): no header, the reader's newest key.
            key_version = self._max_version
            start = 0
        if decryptor is None:
            if key_version:
                raise InvalidMessageError(
                    f"invalid key_version={key_version}: the message is encrypted "
                    "but this reader has data_encryption off"
                )
            return self._unpack(data, start)
        if not key_version:
            raise InvalidMessageError(
                "invalid key_version=0: the message is not encrypted "
                "but this reader has data_encryption on"
            )
        if not start:
            return self._unpack(decryptor.decrypt(key_version, data, 0))
        head_len = _V3_HEADER_LEN + decryptor.salt_len
        if len(data) < head_len:
            raise truncated(len(data) - start, decryptor.salt_len)
        head = data[:head_len]
        open_block = decryptor.opener(key_version, head[_V3_HEADER_LEN:], _V3_HEADER_LEN)
        self._opener[0] = (head, open_block)  # the fast path's writer from now on
        return self._unpack(open_block(data))

    def __repr__(self) -> str:
        return (
            f"Decoder(value_type={self.value_type!r}, compression={self.compression!r}, "
            f"encryption={self.encryption!r}, message_format={self.message_format}, "
            f"user_data_only={self._user_data_only})"
        )


def _no_block(_buf: bytes) -> bytes:
    """The opener before any writer was seen: no plaintext, so the fast path falls back."""
    return b""
