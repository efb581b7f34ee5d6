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
from ._message import attached_timestamp
from ._value_type import resolve_value_type
from ._wire import (
    AVRO_PREFIX,
    CONTINUED_BYTES,
    V3_MARKER,
    AvroUnpacker,
    TimestampEncoder,
    encode_varint,
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
    """Built once when a writer opens; :meth:`encode` is the per-message hot path.

    Raises :class:`InvalidArgumentError` for bad parameters.
    """

    __slots__ = (
        "_compress",
        "_custom_serializer",
        "_encrypt",
        "_plain_prefix",
        "_serialize",
        "_stamp",
        "_tail",
        "_user_data_only",
        "compression",
        "encryption",
        "key_version",
        "message_format",
        "value_type",
    )

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
        # (timestamp z >> 7, payload size, the bytes between the timestamp's first
        # byte and the payload): both repeat from message to message (the timestamp
        # part for 64 µs). One entry, replaced atomically; -1 never matches.
        self._tail: tuple[int, int, bytes] = (-1, -1, b"")

    def encode(self, value: Any, timestamp_us: int) -> tuple[bytes, int, int]:
        """Return ``(wire_bytes, uncompressed_size, compressed_size)``.

        The sizes are measured after the serializer and after the compressor
        (equal when compression is off). Raises :class:`InvalidMessageError` if
        the value cannot be serialized to bytes.
        """
        serialize = self._serialize
        if serialize is not None:
            try:
                payload = serialize(value)
            except SinetError:
                raise
            except Exception as exc:
                raise InvalidMessageError(
                    f"value_type {self.value_type}: cannot serialize a "
                    f"{type(value).__name__}: {exc}"
                ) from exc
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
                raise InvalidMessageError(
                    f"compression {self.compression}: cannot compress: {exc}"
                ) from exc
        compressed = len(payload)
        encrypt = self._encrypt
        if self._user_data_only:
            return (payload if encrypt is None else encrypt(payload)), uncompressed, compressed
        z = (timestamp_us << 1) ^ (timestamp_us >> 63)  # the Avro long's zig-zag form
        hi, size, tail = self._tail
        if hi == z >> 7 and size == compressed:
            first = CONTINUED_BYTES[z & 0x7F]
        else:
            first, tail = self._new_tail(timestamp_us, compressed)
        if encrypt is None:
            wire = b"".join((self._plain_prefix, first, tail, payload))
            return wire, uncompressed, compressed
        return (
            encrypt(b"".join((AVRO_PREFIX, first, tail, payload))),
            uncompressed,
            compressed,
        )

    @property
    def serializer(self) -> Callable[[Any], Any] | None:
        """The effective serializer: ``value_serializer`` if given, else the value type's."""
        return self._serialize

    def _new_tail(self, timestamp_us: int, size: int) -> tuple[bytes, bytes]:
        """The timestamp varint's first byte, and its other bytes with the length varint."""
        first, rest = self._stamp(timestamp_us)  # raises if it does not fit 64 bits
        tail = rest + encode_varint(size << 1)
        if rest:  # a timestamp of 2+ varint bytes: its first byte has the continuation bit
            self._tail = (((timestamp_us << 1) ^ (timestamp_us >> 63)) >> 7, size, tail)
        return first, tail

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
    """Built once when a reader opens; :meth:`decode` is the per-message hot path."""

    __slots__ = (
        "_body",
        "_decompress",
        "_decrypt",
        "_deserialize",
        "_max_version",
        "_plain_prefix",
        "_unpack",
        "_user_data_only",
        "compression",
        "encryption",
        "message_format",
        "value_type",
    )

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
        self._decrypt: Callable[[int, bytes, int], bytes] | None = None
        self.encryption: str | None = None
        self._max_version = 0
        if flag_param(params, "data_encryption"):
            config = parse_crypto(params.get("crypto"))
            warn_if_unauthenticated(config, "reader")
            decryptor = MessageDecryptor(config)
            self._decrypt = decryptor.decrypt
            self.encryption = config.describe()
            self._max_version = decryptor.max_version
        unpacker = AvroUnpacker()
        self._unpack = unpacker.unpack
        self._body = unpacker.body
        plain = self.message_format >= 3 and not self._user_data_only and self._decrypt is None
        self._plain_prefix = v3_plain_prefix() if plain else None

    @property
    def deserializer(self) -> Callable[[bytes], Any] | None:
        """The effective deserializer: ``value_deserializer`` if given, else the value type's."""
        return self._deserialize

    def decode(
        self, message: bytes | bytearray | memoryview, plugin_timestamp_us: int | None = None
    ) -> tuple[Any, int, int, int]:
        """Return ``(value, timestamp_us, uncompressed_size, compressed_size)``.

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
        decrypt = self._decrypt
        if self._user_data_only:
            payload = data if decrypt is None else decrypt(self._max_version, data, 0)
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
        if decrypt is None:
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
        return self._unpack(decrypt(key_version, data, start))

    def __repr__(self) -> str:
        return (
            f"Decoder(value_type={self.value_type!r}, compression={self.compression!r}, "
            f"encryption={self.encryption!r}, message_format={self.message_format}, "
            f"user_data_only={self._user_data_only})"
        )
