"""The SINETStream message framing: pure functions, bytes in, bytes out.

Two layers, both byte-compatible with SINETStream 1.10:

* the Avro single-object encoding of the record ``jp.ad.sinet.stream.message``
  (``tstamp``: long µs, ``msg``: bytes), i.e. ``C3 01`` + the 8-byte schema
  fingerprint + zig-zag varint timestamp + varint length + payload. This is the
  whole message in format version 2;
* the version 3 packet header ``DF 03 00 00`` + big-endian u16 key version
  (0 = not encrypted) in front of the (possibly encrypted) Avro body.

The schema is fixed, so no Avro library is needed. Every decoding error is an
:class:`~sinetstream.error.InvalidMessageError`. :class:`TimestampEncoder` and
:class:`AvroUnpacker` are the same functions with a one-entry cache of the
timestamp's high bytes, for the per-message hot path (no I/O either); their
methods are used bound (cheaper to call than an instance's ``__call__``).
"""

from __future__ import annotations

from time import time_ns as _time_ns

from .error import InvalidMessageError

__all__ = [
    "AVRO_FINGERPRINT",
    "AvroUnpacker",
    "BodyTail",
    "TimestampEncoder",
    "AVRO_MARKER",
    "AVRO_PREFIX",
    "CONTINUED_BYTES",
    "MAX_KEY_VERSION",
    "TS_BYTE0",
    "TS_BYTE1",
    "V3_HEADER_LEN",
    "V3_MARKER",
    "avro_body",
    "avro_pack",
    "avro_unpack",
    "body_tail_seed",
    "check_timestamp",
    "decode_varint",
    "encode_varint",
    "v3_pack",
    "v3_plain_prefix",
    "v3_unpack",
    "zigzag_decode",
    "zigzag_encode",
]

#: Avro single-object marker.
AVRO_MARKER = b"\xc3\x01"
#: CRC-64-AVRO of the schema's canonical form, little-endian (the docs' ``33 06 4F`` is a typo).
AVRO_FINGERPRINT = bytes.fromhex("1f9c0c91eb33664f")
#: The 10 constant bytes every Avro body starts with.
AVRO_PREFIX = AVRO_MARKER + AVRO_FINGERPRINT
#: Format version 3 packet marker.
V3_MARKER = b"\xdf\x03\x00\x00"
#: Length of the version 3 packet header (marker + key version).
V3_HEADER_LEN = 6
#: Largest key version the u16 header field can carry.
MAX_KEY_VERSION = 0xFFFF

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_VARINT_BYTES = 10  # a 64-bit value needs at most 10 groups of 7 bits

# Single-byte varints are by far the most common lengths; look them up.
_SMALL_VARINTS = tuple(bytes((i,)) for i in range(0x80))
#: First byte of a longer varint, by its 7 low bits (with the continuation bit set).
CONTINUED_BYTES = tuple(bytes((i | 0x80,)) for i in range(0x80))


def zigzag_encode(n: int) -> int:
    """Map a signed 64-bit integer to the unsigned Avro zig-zag form."""
    return (n << 1) ^ (n >> 63)


def zigzag_decode(z: int) -> int:
    """Inverse of :func:`zigzag_encode`."""
    return (z >> 1) ^ -(z & 1)


def encode_varint(n: int) -> bytes:
    """Little-endian base-128 varint of a non-negative integer."""
    if n < 0x80:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a varint of ``data`` at ``pos``; return ``(value, position after it)``."""
    result = 0
    shift = 0
    end = len(data)
    limit = pos + _MAX_VARINT_BYTES
    while True:
        if pos >= end:
            raise InvalidMessageError("truncated message: Avro varint runs past the end")
        if pos >= limit:
            raise InvalidMessageError("malformed message: Avro varint longer than 10 bytes")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def avro_pack(timestamp_us: int, payload: bytes) -> bytes:
    """The Avro single-object encoding of ``(timestamp_us, payload)`` (format v2 body)."""
    return b"".join(
        (
            AVRO_PREFIX,
            encode_varint(zigzag_encode(timestamp_us)),
            encode_varint(len(payload) << 1),
            payload,
        )
    )


def avro_unpack(data: bytes, start: int = 0) -> tuple[int, bytes]:
    """Parse the Avro single-object message ``data[start:]`` into ``(timestamp_us, payload)``.

    Bytes after the record are ignored, as in SINETStream 1.10.
    """
    body_at = start + len(AVRO_PREFIX)
    if len(data) <= body_at:
        raise InvalidMessageError(
            f"truncated message: {len(data) - start} bytes is too short for an Avro header"
        )
    if data[start:body_at] != AVRO_PREFIX:
        marker = data[start : start + 2]
        if marker != AVRO_MARKER:
            raise InvalidMessageError(
                f"not a SINETStream message: Avro marker is {marker.hex()}, expected c301"
            )
        raise InvalidMessageError(
            f"not a SINETStream message: schema fingerprint {data[start + 2 : body_at].hex()} "
            f"differs from {AVRO_FINGERPRINT.hex()}"
        )
    z, pos = decode_varint(data, body_at)
    return (z >> 1) ^ -(z & 1), _avro_bytes(data, pos)


def _avro_bytes(data: bytes, pos: int) -> bytes:
    """The Avro ``bytes`` value (zig-zag length, then the bytes) at ``pos``."""
    size = len(data)
    # Lengths below 8 KiB take one or two varint bytes: read those inline.
    if pos < size and data[pos] < 0x80:
        zlen = data[pos]
        pos += 1
    elif pos + 1 < size and data[pos + 1] < 0x80:
        zlen = (data[pos] & 0x7F) | (data[pos + 1] << 7)
        pos += 2
    else:
        zlen, pos = decode_varint(data, pos)
    if zlen & 1:
        raise InvalidMessageError("malformed message: negative Avro payload length")
    end = pos + (zlen >> 1)
    if end > size:
        raise InvalidMessageError(
            f"truncated message: payload needs {zlen >> 1} bytes, {size - pos} present"
        )
    return data[pos:end]


class TimestampEncoder:
    """Zig-zag varint of successive timestamps, for a writer's hot path.

    Timestamps of successive messages share all but their lowest 7 bits most
    of the time, so the varint of ``z >> 7`` is cached; when that changes
    (every 64 µs) it is rebuilt from a second cache, of ``z >> 14`` (every
    8 ms), instead of a byte loop. Each cache is one entry, replaced
    atomically, so concurrent use is safe. :meth:`encode` returns the two
    parts to join.
    """

    __slots__ = ("_cache", "_cache14")

    def __init__(self) -> None:
        self._cache: tuple[int, bytes] = (-1, b"")
        self._cache14: tuple[int, bytes] = (-1, b"")

    def encode(self, timestamp_us: int) -> tuple[bytes, bytes]:
        """``(first byte(s), rest)`` of the Avro long ``timestamp_us``.

        Raises :class:`InvalidMessageError` if it does not fit 64 bits.
        """
        z = (timestamp_us << 1) ^ (timestamp_us >> 63)
        if z < 0x80:
            return _SMALL_VARINTS[z], b""
        hi = z >> 7
        cache = self._cache
        if cache[0] != hi:
            cache = (hi, self._rest(hi, timestamp_us))
            self._cache = cache
        return CONTINUED_BYTES[z & 0x7F], cache[1]

    def _rest(self, hi: int, timestamp_us: int) -> bytes:
        """The varint of ``hi`` (``z >> 7``), its own high part from the second cache."""
        if hi < 0x80:
            return _SMALL_VARINTS[hi]
        hi14 = hi >> 7
        cache14 = self._cache14
        if cache14[0] != hi14:
            # A timestamp beyond 64 bits never shares its high part with a cached
            # (valid) one, so checking here, on a miss, checks every timestamp.
            check_timestamp(timestamp_us)
            cache14 = (hi14, encode_varint(hi14))
            self._cache14 = cache14
        return CONTINUED_BYTES[hi & 0x7F] + cache14[1]


#: ``(tail, len(tail), base, size)``: see :func:`avro_body`.
BodyTail = tuple[bytes, int, int, int]

# What the first two bytes of a cached timestamp varint add to its ``base``, by byte
# value: two lookups and two additions instead of six operations. A byte that cannot
# be there (no continuation bit; an odd zig-zag form, i.e. a negative timestamp) adds
# _NO_MATCH, which makes any sum negative: the message is read the long way.
_NO_MATCH = -(1 << 80)
#: By value of the timestamp varint's first byte: its share of the timestamp.
TS_BYTE0 = tuple(((b & 0x7F) >> 1) if b >= 0x80 and not b & 1 else _NO_MATCH for b in range(256))
#: By value of the timestamp varint's second byte: its share of the timestamp.
TS_BYTE1 = tuple(((b & 0x7F) << 6) if b >= 0x80 else _NO_MATCH for b in range(256))


def body_tail_seed() -> BodyTail:
    """A :data:`BodyTail` that matches no message until one sets it (now's timestamp,
    an empty payload: complete varints, so the comparison can only match where both end)."""
    z = zigzag_encode(_time_ns() // 1000)
    tail = encode_varint(z >> 14) + b"\x00"
    return tail, len(tail), ((z >> 14) << 14) >> 1, 0


def avro_body(data: bytes, at: int) -> tuple[int, bytes, BodyTail | None]:
    """``(timestamp_us, payload, tail)`` of the record whose timestamp starts at ``data[at]``.

    ``tail`` is the :data:`BodyTail` a next message of the stream is likely to
    share, or ``None`` when the timestamp varint is shorter than 3 bytes:
    ``tail`` holds the timestamp varint's bytes after its first two (constant
    while the timestamp's value ``>> 13`` is, 8 ms) and the payload length
    varint; ``base`` the timestamp with its 13 low bits cleared; ``size`` the
    payload size. A message whose bytes 2.. after ``at`` are ``tail`` has
    timestamp ``base + TS_BYTE0[b0] + TS_BYTE1[b1]`` if that is not negative.
    """
    z, pos = decode_varint(data, at)
    payload = _avro_bytes(data, pos)
    ts = (z >> 1) ^ -(z & 1)
    if pos <= at + 2:
        return ts, payload, None
    size = len(payload)
    tail = data[at + 2 : pos] + encode_varint(size << 1)
    return ts, payload, (tail, len(tail), ((z >> 14) << 14) >> 1, size)


class AvroUnpacker:
    """:func:`avro_unpack` for a reader's hot path (same results and errors).

    Keeps one :data:`BodyTail` (replaced atomically): while a stream's
    timestamps keep their value ``>> 13`` (8 ms) and its payloads their size,
    a message is read with one comparison instead of two varint loops. Call the
    bound methods (cheaper than an instance's ``__call__``).
    """

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache = body_tail_seed()

    def unpack(self, data: bytes, start: int = 0) -> tuple[int, bytes]:
        """Parse the Avro single-object message ``data[start:]``."""
        at = start + 10
        if data[start:at] != AVRO_PREFIX:
            return avro_unpack(data, start)  # the error, with its precise message
        return self.body(data, at)

    def body(self, data: bytes, at: int) -> tuple[int, bytes]:
        """Parse the record whose timestamp starts at ``data[at]``, the 10 bytes before it
        being :data:`AVRO_PREFIX` (the caller checked them)."""
        tail, n, base, size = self._cache
        try:
            b0 = data[at]
            b1 = data[at + 1]
        except IndexError:
            return avro_unpack(data, at - 10)
        end = at + 2 + n
        ts = base + TS_BYTE0[b0] + TS_BYTE1[b1]
        if ts >= 0 and data[at + 2 : end] == tail and end + size <= len(data):
            return ts, data[end : end + size]
        ts, payload, new = avro_body(data, at)
        if new is not None:
            self._cache = new
        return ts, payload


def timestamp_us(seconds: float | None) -> int:
    """A message timestamp in µs since the epoch: ``seconds`` converted, or now."""
    return _time_ns() // 1000 if seconds is None else int(seconds * 1_000_000)


def check_timestamp(timestamp_us: int) -> None:
    """Reject a timestamp that does not fit the Avro ``long``."""
    if not _INT64_MIN <= timestamp_us <= _INT64_MAX:
        raise InvalidMessageError(f"timestamp {timestamp_us} µs does not fit a 64-bit integer")


def v3_plain_prefix() -> bytes:
    """The 16 constant bytes in front of every unencrypted v3 message's timestamp."""
    return V3_MARKER + b"\x00\x00" + AVRO_PREFIX


def v3_pack(key_version: int, body: bytes) -> bytes:
    """Prepend the version 3 packet header."""
    if not 0 <= key_version <= MAX_KEY_VERSION:
        raise InvalidMessageError(f"key version {key_version} does not fit 16 bits")
    return V3_MARKER + key_version.to_bytes(2, "big") + body


def v3_unpack(data: bytes) -> tuple[int, bytes] | None:
    """Split a v3 packet into ``(key_version, body)``; ``None`` if it is not one.

    As in SINETStream 1.10, a buffer of at most 6 bytes or without the marker is
    not a v3 packet (the reader then treats it as version 2).
    """
    if len(data) > V3_HEADER_LEN and data[:4] == V3_MARKER:
        return (data[4] << 8) | data[5], data[V3_HEADER_LEN:]
    return None
