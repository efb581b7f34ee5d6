"""Record-batch decoding for the reader, faster than kafka-python's own.

kafka-python turns every fetched record into a ``DefaultRecord`` through seven
calls of a generic varint decoder and a dozen property lookups before it builds
the ``ConsumerRecord`` the user gets: at 1 KiB that is about half of a reader's
time. :class:`PartitionRecords` replaces the per-partition decoder of one
consumer's fetcher (never the class itself, so other consumers in the process
are untouched). It decodes uncompressed batches of message format v2 in one
loop with the varints inlined, and hands every other batch (compressed, legacy
v0/v1, control) to kafka-python's batch classes, so it yields the same
``ConsumerRecord`` tuples, keeps the same offsets, metrics and transaction rules
(aborted batches and control markers under ``read_committed``), and raises
``CorruptRecordError`` where kafka-python does.

kafka-python's decoder stays in charge when the consumer has key or value
deserializers, or when this kafka-python lacks what the fast path relies on
(:func:`install` checks and says so in the log).
"""

from __future__ import annotations

import inspect
import logging
import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.legacy_records import LegacyRecordBatch
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

from ._record_fields import read_headers, serialized_header_size, varint

__all__ = ["CorruptRecords", "PartitionRecords", "install"]

log = logging.getLogger("sinetstream_kafka")

# RecordBatch header of message format v2 (KIP-98): BaseOffset, Length,
# PartitionLeaderEpoch, Magic, CRC, Attributes, LastOffsetDelta, FirstTimestamp,
# MaxTimestamp, ProducerId, ProducerEpoch, BaseSequence, record count.
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_LENGTH = struct.Struct(">i")
_OFFSET = struct.Struct(">q")
_LAST_DELTA_AT = 23  # a v2 batch's LastOffsetDelta
_LOG_OVERHEAD = 12  # BaseOffset and Length: every format frames its batches so
_MAGIC_AT = 16  # the magic byte sits here in every format
_CRC_FROM = 21  # a v2 batch's CRC covers the bytes from Attributes on
_MIN_BATCH = MemoryRecords.MIN_SLICE
_COMPRESSION = 0x07
_LOG_APPEND_TIME = 0x08
_CONTROL = 0x20
_NEW = tuple.__new__  # a namedtuple built without its keyword-parsing __new__


class CorruptRecords(NamedTuple):
    """Records a fetch could not decode: ``first`` up to, not including, ``after``.

    Set as ``corrupt_records`` on the ``CorruptRecordError`` that ``poll`` raises;
    seeking to ``after`` skips them.
    """

    partition: Any  # the TopicPartition
    first: int
    after: int


class PartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's ``Fetcher.PartitionRecords`` with a fast v2 batch decoder."""

    _batch_at = 0  # where the batch being decoded starts in the fetched bytes

    def _unpack_records(
        self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[Any]:
        data = getattr(records, "_buffer", None)
        if key_deserializer is not None or value_deserializer is not None or data is None:
            yield from super()._unpack_records(tp, records, key_deserializer, value_deserializer)
            return
        if not isinstance(data, bytes):
            data = bytes(data)
        try:
            yield from self._batches(tp, data)
        except (IndexError, struct.error, UnicodeDecodeError, CorruptRecordError) as exc:
            raise self._corrupt(tp, data, exc) from None

    def take(self, n: int | None = None) -> list[Any]:
        """kafka-python's ``take``, but a PartitionRecords that raised is drained.

        kafka-python's fetcher asks a PartitionRecords that raised once for more
        records, in a loop that ends only when it is drained (``poll`` spun there
        forever at 100% CPU after a corrupt batch, ignoring its timeout). Drained,
        the fetch is over and ``poll`` raises; its caller can seek past the
        :class:`CorruptRecords` the error carries.
        """
        try:
            records: list[Any] = super().take(n)
        except Exception:
            self.drain()
            raise
        return records

    def _corrupt(self, tp: Any, data: bytes, exc: Exception) -> CorruptRecordError:
        """``exc`` as a CorruptRecordError that names the records it makes unreadable."""
        err: Any = exc
        if not isinstance(exc, CorruptRecordError):
            err = CorruptRecordError(
                f"record batch for partition {tp} is truncated or malformed: {exc}"
            )
        at = self._batch_at
        first = _OFFSET.unpack_from(data, at)[0]
        after = first + 1
        if len(data) >= at + _BATCH_HEADER.size and data[at + _MAGIC_AT] == 2:
            after = first + _LENGTH.unpack_from(data, at + _LAST_DELTA_AT)[0] + 1
        first = max(first, self.next_fetch_offset)
        err.corrupt_records = CorruptRecords(tp, first, max(after, first + 1))
        return err

    def _batches(self, tp: Any, data: bytes) -> Iterator[Any]:
        topic, partition = tp.topic, tp.partition
        end = len(data)
        pos = 0
        last_magic = -1
        last_next_offset = 0
        read_committed = self.isolation_level == 1  # IsolationLevel.READ_COMMITTED (an IntEnum)
        while end - pos >= _LOG_OVERHEAD:
            batch_end = pos + _LOG_OVERHEAD + _LENGTH.unpack_from(data, pos + 8)[0]
            if batch_end > end:
                break  # a partial batch ends every full fetch: fetched again next time
            self._batch_at = pos
            if batch_end - pos < _MIN_BATCH:
                raise CorruptRecordError(
                    "Record size is less than the minimum record overhead "
                    f"({_MIN_BATCH - _LOG_OVERHEAD})"
                )
            magic = data[pos + _MAGIC_AT]
            if magic > 127:
                magic -= 256  # an int8: kafka-python takes a negative magic for a legacy one
            last_magic = magic
            if magic != 2:
                # Legacy v0/v1, or a future format that kafka-python reads as v2 but
                # without v2's leader epoch and transaction rules: as kafka-python does.
                view = memoryview(data)[pos:batch_end]
                batch = LegacyRecordBatch(view, magic) if magic < 2 else DefaultRecordBatch(view)
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {tp} at offset {batch.base_offset} "
                        "failed crc check"
                    )
                yield from self._generic(topic, partition, batch)
                pos = batch_end
                continue
            if batch_end - pos < _BATCH_HEADER.size:
                raise CorruptRecordError(
                    f"Record batch for partition {tp} of {batch_end - pos} bytes is shorter "
                    f"than its {_BATCH_HEADER.size}-byte header"
                )
            (
                base_offset,
                _length,
                leader_epoch,
                _magic,
                crc,
                attributes,
                last_delta,
                first_ts,
                max_ts,
                producer_id,
                _epoch,
                _sequence,
                count,
            ) = _BATCH_HEADER.unpack_from(data, pos)
            checked = memoryview(data)[pos + _CRC_FROM : batch_end]
            if self.check_crcs and calc_crc32c(checked) != crc:
                raise CorruptRecordError(
                    f"Record batch for partition {tp} at offset {base_offset} failed crc check"
                )
            self.leader_epoch = leader_epoch
            last_next_offset = base_offset + last_delta + 1
            transactional = read_committed and producer_id > -1
            if transactional or attributes & (_CONTROL | _COMPRESSION):
                batch = DefaultRecordBatch(memoryview(data)[pos:batch_end])
                pos = batch_end
                if transactional:
                    self._consume_aborted_transactions_up_to(batch.last_offset)
                    if self._contains_abort_marker(batch):
                        self.aborted_producer_ids.discard(producer_id)
                    elif self._is_batch_aborted(batch):
                        self.next_fetch_offset = last_next_offset
                        continue
                if attributes & _CONTROL:
                    # a transaction marker: never handed to the user
                    self.next_fetch_offset = last_next_offset
                    continue
                yield from self._generic(topic, partition, batch)
                continue
            ts_type = 1 if attributes & _LOG_APPEND_TIME else 0
            pos += _BATCH_HEADER.size
            headers: list[tuple[str, bytes | None]]
            for _ in range(count):
                # Record: Length, Attributes (int8), TimestampDelta, OffsetDelta, Key and
                # Value (a length, -1 for null, and the bytes), Headers. Every number is a
                # zigzag varint; the common one- and two-byte forms are decoded inline.
                b = data[pos]
                if b < 0x80:
                    length = (b >> 1) ^ -(b & 1)
                    pos += 1
                elif data[pos + 1] < 0x80:
                    u = (b & 0x7F) | (data[pos + 1] << 7)
                    length = (u >> 1) ^ -(u & 1)
                    pos += 2
                else:
                    length, pos = varint(data, pos)
                start = pos
                b = data[pos + 1]  # after Attributes (unused)
                if b < 0x80:
                    ts_delta = (b >> 1) ^ -(b & 1)
                    pos += 2
                else:
                    ts_delta, pos = varint(data, pos + 1)
                b = data[pos]
                if b < 0x80:
                    offset_delta = (b >> 1) ^ -(b & 1)
                    pos += 1
                else:
                    offset_delta, pos = varint(data, pos)
                if data[pos] == 1:  # -1: no key
                    key = None
                    key_size = -1
                    pos += 1
                else:
                    key_size, pos = varint(data, pos)
                    if key_size < 0:
                        key = None
                        key_size = -1
                    else:
                        key = data[pos : pos + key_size]
                        pos += key_size
                b = data[pos]
                if b < 0x80:
                    value_size = (b >> 1) ^ -(b & 1)
                    pos += 1
                elif data[pos + 1] < 0x80:
                    u = (b & 0x7F) | (data[pos + 1] << 7)
                    value_size = (u >> 1) ^ -(u & 1)
                    pos += 2
                else:
                    value_size, pos = varint(data, pos)
                if value_size < 0:
                    value = None
                    value_size = -1
                else:
                    value = data[pos : pos + value_size]
                    pos += value_size
                if data[pos] == 0:
                    headers = []
                    header_size = -1
                    pos += 1
                else:
                    headers, header_size, pos = read_headers(data, pos)
                if pos - start != length:
                    raise CorruptRecordError(
                        f"Invalid record size: expected to read {length} bytes in record "
                        f"payload, but instead read {pos - start}"
                    )
                offset = base_offset + offset_delta
                self.records_read += 1
                self.bytes_read += length
                self.next_fetch_offset = offset + 1
                yield _NEW(
                    ConsumerRecord,
                    (
                        topic,
                        partition,
                        leader_epoch,
                        offset,
                        max_ts if ts_type else first_ts + ts_delta,
                        ts_type,
                        key,
                        value,
                        headers,
                        None,
                        key_size,
                        value_size,
                        header_size,
                    ),
                )
            if pos != batch_end:
                raise CorruptRecordError(
                    f"{batch_end - pos} unconsumed bytes after all records consumed"
                )
        if last_magic == 2:
            # v2 keeps a batch's last offset even when compaction removed that record:
            # fetch from after it, or the same batch would be fetched again and again.
            self.next_fetch_offset = last_next_offset
        self.drain()

    def _generic(self, topic: str, partition: int, batch: Any) -> Iterator[Any]:
        """The records of a batch the fast loop does not decode, through kafka-python."""
        check_crcs = self.check_crcs
        leader_epoch = self.leader_epoch
        for record in batch:
            if check_crcs and not record.validate_crc():
                raise CorruptRecordError(
                    f"Record for partition {topic}-{partition} at offset {record.offset} "
                    "failed crc check"
                )
            key, value, headers = record.key, record.value, record.headers
            self.records_read += 1
            self.bytes_read += record.size_in_bytes
            self.next_fetch_offset = record.offset + 1
            yield ConsumerRecord(
                topic,
                partition,
                leader_epoch,
                record.offset,
                record.timestamp,
                record.timestamp_type,
                key,
                value,
                headers,
                record.checksum,
                len(key) if key is not None else -1,
                len(value) if value is not None else -1,
                serialized_header_size(headers),
            )


def _compatible() -> str | None:
    """Why the fast decoder cannot serve this kafka-python, or None when it can."""
    try:
        params = list(inspect.signature(Fetcher.PartitionRecords.__init__).parameters)
        unpack = list(inspect.signature(Fetcher.PartitionRecords._unpack_records).parameters)
    except (AttributeError, TypeError, ValueError) as exc:
        return f"Fetcher.PartitionRecords changed ({exc})"
    if params[:4] != ["self", "fetch_offset", "tp", "records"]:
        return f"Fetcher.PartitionRecords takes {params}"
    if unpack != ["self", "tp", "records", "key_deserializer", "value_deserializer"]:
        return f"PartitionRecords._unpack_records takes {unpack}"
    for name in (
        "_consume_aborted_transactions_up_to",
        "_contains_abort_marker",
        "_is_batch_aborted",
        "drain",
    ):
        if not hasattr(Fetcher.PartitionRecords, name):
            return f"PartitionRecords has no {name}"
    if "_buffer" not in getattr(MemoryRecords, "__slots__", ()):
        return "MemoryRecords keeps no _buffer"
    if ConsumerRecord._fields[-1] != "serialized_header_size" or len(ConsumerRecord._fields) != 13:
        return f"ConsumerRecord has fields {ConsumerRecord._fields}"
    return None


_INCOMPATIBLE = _compatible()


def install(consumer: Any) -> bool:
    """Make ``consumer`` decode its fetches with :class:`PartitionRecords`; False if it can't."""
    why = _INCOMPATIBLE
    fetcher: Any = getattr(consumer, "_fetcher", None)
    if why is None and getattr(fetcher, "PartitionRecords", None) is not Fetcher.PartitionRecords:
        why = f"the consumer's fetcher is a {type(fetcher).__name__}"
    if why is None:
        try:
            fetcher.PartitionRecords = PartitionRecords
        except AttributeError as exc:  # a fetcher with __slots__
            why = f"the fetcher takes no decoder ({exc})"
    if why is not None:
        log.debug("kafka reader: kafka-python's record decoder in use: %s", why)
        return False
    return True
