"""The variable-length fields of a v2 Kafka record: zigzag varints and headers.

Pure functions (bytes in, values and the next position out) for
:mod:`._records`; its batch loop inlines the varints of the fixed record
fields and calls these for the rarer ones.
"""

from __future__ import annotations

from kafka.errors import CorruptRecordError

__all__ = ["read_headers", "serialized_header_size", "varint"]


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint (Kafka's varint/varlong) at ``pos``: (value, next position)."""
    result = 0
    shift = 0
    try:
        while True:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return (result >> 1) ^ -(result & 1), pos
            shift += 7
            if shift > 63:
                raise CorruptRecordError("record varint longer than 10 bytes")
    except IndexError:
        raise CorruptRecordError("record batch truncated inside a varint") from None


def serialized_header_size(headers: list[tuple[str, bytes | None]]) -> int:
    """kafka-python's ``serialized_header_size``: -1 without headers."""
    if not headers:
        return -1
    return sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers)


def read_headers(data: bytes, pos: int) -> tuple[list[tuple[str, bytes | None]], int, int]:
    """A record's headers at ``pos``: (headers, serialized size, next position)."""
    count, pos = varint(data, pos)
    if count < 0:
        raise CorruptRecordError(f"Found invalid number of record headers {count}")
    headers: list[tuple[str, bytes | None]] = []
    size = 0
    for _ in range(count):
        key_len, pos = varint(data, pos)
        if key_len < 0:
            raise CorruptRecordError(f"Invalid negative header key size {key_len}")
        key = data[pos : pos + key_len].decode("utf-8")
        pos += key_len
        value_len, pos = varint(data, pos)
        value: bytes | None = None
        if value_len >= 0:
            value = data[pos : pos + value_len]
            pos += value_len
            size += value_len
        size += key_len
        headers.append((key, value))
    return headers, size if headers else -1, pos
