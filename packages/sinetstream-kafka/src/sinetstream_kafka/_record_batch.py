"""Record-batch encoding for the writer, faster than kafka-python's own.

kafka-python encodes each record through a generic varint writer, a size
estimate and a dozen attribute lookups. :func:`encode_record` writes one
record of message format v2 (KIP-98) in one expression, with the varints of
small numbers taken from a table; :class:`BatchBuilder` collects records into
one uncompressed batch and writes its header and CRC-32C when the batch is
closed. It has the interface kafka-python's sender uses on
``MemoryRecordsBuilder``, so its batches travel through kafka-python's own
accumulator and sender (retries, acks, in-flight limits, delivery timeouts).
Pure code: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from kafka.errors import MessageSizeTooLargeError
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

__all__ = ["BATCH_OVERHEAD", "BatchBuilder", "encode_record", "zigzag_varint"]

# RecordBatch header: BaseOffset, Length, PartitionLeaderEpoch, Magic, CRC,
# Attributes, LastOffsetDelta, FirstTimestamp, MaxTimestamp, ProducerId,
# ProducerEpoch, BaseSequence, record count.
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC = struct.Struct(">I")
BATCH_OVERHEAD = _HEADER.size  # 61 bytes before the first record
_LENGTH_END = 12  # BaseOffset and Length are not counted in Length
_CRC_AT = 17
_CRC_FROM = 21  # the CRC covers Attributes to the end


def zigzag_varint(value: int) -> bytes:
    """``value`` as Kafka's zigzag varint (varlong)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = 1 << 14  # varints of 0..16383 (up to two bytes) come from a table
_VARINT = tuple(zigzag_varint(i) for i in range(_SMALL))
_NULL = zigzag_varint(-1)  # a null key, value or header value
_NO_HEADERS = _VARINT[0]
_ATTRIBUTES = b"\x00"


def _varint(value: int) -> bytes:
    return _VARINT[value] if 0 <= value < _SMALL else zigzag_varint(value)


def _headers(headers: Sequence[tuple[str, bytes | None]] | None) -> bytes:
    if not headers:
        return _NO_HEADERS
    parts = [_varint(len(headers))]
    for name, value in headers:
        raw = name.encode("utf-8")
        parts += (_varint(len(raw)), raw)
        if value is None:
            parts.append(_NULL)
        else:
            parts += (_varint(len(value)), value)
    return b"".join(parts)


def encode_record(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
) -> bytes:
    """One v2 record: Length, Attributes, TimestampDelta, OffsetDelta, Key, Value, Headers."""
    ts = _varint(timestamp_delta)
    offset = _varint(offset_delta)
    key_part = _NULL if key is None else _varint(len(key)) + key
    size = _varint(len(value))
    tail = _headers(headers)
    length = 1 + len(ts) + len(offset) + len(key_part) + len(size) + len(value) + len(tail)
    return b"".join((_varint(length), _ATTRIBUTES, ts, offset, key_part, size, value, tail))


class BatchBuilder:
    """One uncompressed v2 record batch being filled; ``MemoryRecordsBuilder``'s interface.

    ``add`` is called under the accumulator's partition lock, as is ``close``
    (by the sender when it drains the batch), so a closed batch takes no more
    records. The first record is always taken, whatever its size.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_count",
        "_first_ts",
        "_limit",
        "_max_request_size",
        "_max_ts",
        "max_record",
    )

    producer_id = -1
    producer_epoch = -1
    base_sequence = -1

    def __init__(self, batch_size: int, max_request_size: int) -> None:
        self._max_request_size = max_request_size
        self._buffer = bytearray(BATCH_OVERHEAD)
        self._count = 0
        self._first_ts = 0
        self._max_ts = 0
        self._limit = batch_size
        self._closed = False
        self.max_record = 0  # size of the largest record, for kafka-python's metrics

    def add(
        self,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes | None]] | None,
    ) -> int | None:
        """Append a record; its offset delta, or None when the batch is closed or full.

        A record that makes a batch larger than ``max_request_size`` on its own
        is ``MessageSizeTooLargeError``, as from kafka-python's ``send()``.
        """
        count = self._count
        if count:
            if self._closed:
                return None
            record = encode_record(count, timestamp_ms - self._first_ts, key, value, headers)
            if len(self._buffer) + len(record) > self._limit:
                return None
        else:
            self._first_ts = timestamp_ms
            record = encode_record(0, 0, key, value, headers)
        if len(record) + BATCH_OVERHEAD > self._max_request_size:
            raise MessageSizeTooLargeError(
                f"The message is {len(record) + BATCH_OVERHEAD} bytes when serialized, more "
                "than the max_request_size configured"
            )
        self._max_ts = max(self._max_ts, timestamp_ms)
        self.max_record = max(self.max_record, len(record))
        self._buffer += record
        self._count = count + 1
        return count

    def close(self) -> None:
        """Write the header and the CRC-32C; no record is added after this.

        The header is the one kafka-python writes (leader epoch 0, which the
        broker replaces; no producer id), so a batch is byte for byte the one
        kafka-python would send for the same records.
        """
        if self._closed:
            return
        self._closed = True
        buffer, count = self._buffer, self._count
        _HEADER.pack_into(
            buffer, 0,
            0, len(buffer) - _LENGTH_END, 0, 2, 0, 0, count - 1,
            self._first_ts, self._max_ts, -1, -1, -1, count,
        )  # fmt: skip
        _CRC.pack_into(buffer, _CRC_AT, calc_crc32c(memoryview(buffer)[_CRC_FROM:]))

    def is_full(self) -> bool:
        """Closed, or at ``batch_size``."""
        return self._closed or len(self._buffer) >= self._limit

    def next_offset(self) -> int:
        """The number of records (the next offset delta)."""
        return self._count

    def size_in_bytes(self) -> int:
        """The batch's size so far."""
        return len(self._buffer)

    def compression_rate(self) -> float:
        """Always 1: the batch is not compressed."""
        return 1.0

    def buffer(self) -> bytearray:
        """The closed batch's bytes."""
        return self._buffer

    def records(self) -> MemoryRecords:
        """The closed batch, readable by kafka-python."""
        return MemoryRecords(bytes(self._buffer))
