"""The writer's record-batch encoder against kafka-python's own (no broker needed).

For any records, :class:`BatchBuilder` must write the very bytes kafka-python's
``DefaultRecordBatchBuilder`` writes, and kafka-python's decoder must read them
back (CRC-32C, varints, keys, values, headers, timestamps).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.errors import MessageSizeTooLargeError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from sinetstream_kafka._record_batch import BATCH_OVERHEAD, BatchBuilder, zigzag_varint

T0 = 1_700_000_000_000
UNLIMITED = 1 << 30

# A value past the 16 KiB mark (kafka-python's varint and buffer paths change there), built from a
# drawn seed: drawing 20 000 random bytes one by one makes hypothesis spend seconds per example.
big_value = st.tuples(st.binary(min_size=1, max_size=64), st.integers(16_380, 20_000)).map(
    lambda seed_size: (seed_size[0] * (seed_size[1] // len(seed_size[0]) + 1))[: seed_size[1]]
)
header = st.tuples(st.text(max_size=12), st.one_of(st.none(), st.binary(max_size=40)))
record = st.tuples(
    st.integers(-5_000, 5_000_000),  # timestamp delta: clocks step back too
    st.one_of(st.none(), st.binary(max_size=300)),
    st.one_of(st.binary(max_size=3000), big_value),
    st.one_of(st.none(), st.lists(header, max_size=4)),
)


def kafka_python_batch(records: list[tuple[int, Any, bytes, Any]]) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, UNLIMITED)
    for offset, (ts, key, value, headers) in enumerate(records):
        builder.append(offset, T0 + ts, key, value, headers or [])
    return bytes(builder.build())


def our_batch(records: list[tuple[int, Any, bytes, Any]]) -> bytes:
    builder = BatchBuilder(UNLIMITED, UNLIMITED)
    for offset, (ts, key, value, headers) in enumerate(records):
        assert builder.add(T0 + ts, key, value, headers) == offset
    builder.close()
    return bytes(builder.buffer())


@settings(max_examples=150, deadline=None)
@given(st.lists(record, min_size=1, max_size=12))
def test_the_bytes_are_kafka_pythons(records: list[tuple[int, Any, bytes, Any]]) -> None:
    ours = our_batch(records)
    assert ours == kafka_python_batch(records)
    (batch,) = list(MemoryRecords(ours))
    assert batch.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]
    assert got == [
        (i, T0 + ts, key, value, headers or [])
        for i, (ts, key, value, headers) in enumerate(records)
    ]


@pytest.mark.parametrize(
    "value", [0, 1, -1, 63, 64, -65, 8191, 8192, 16383, 16384, 1 << 40, -(1 << 40)]
)
def test_zigzag_varint(value: int) -> None:
    from kafka.record.util import decode_varint

    encoded = zigzag_varint(value)
    assert decode_varint(bytearray(encoded), 0) == (value, len(encoded))


def test_a_batch_takes_records_up_to_batch_size() -> None:
    builder = BatchBuilder(BATCH_OVERHEAD + 2500, UNLIMITED)
    assert builder.add(T0, None, b"x" * 5000, None) == 0  # the first always fits
    assert builder.add(T0, None, b"x", None) is None
    assert builder.is_full()
    small = BatchBuilder(BATCH_OVERHEAD + 2500, UNLIMITED)
    assert small.add(T0, None, b"x" * 1000, None) == 0
    assert small.add(T0, None, b"x" * 1000, None) == 1
    assert small.add(T0, None, b"x" * 1000, None) is None
    small.close()
    assert small.add(T0, None, b"", None) is None  # closed: the sender took it
    assert small.next_offset() == 2
    assert len(list(next(iter(small.records())))) == 2


def test_a_record_above_max_request_size_is_refused() -> None:
    builder = BatchBuilder(UNLIMITED, 1000)
    with pytest.raises(MessageSizeTooLargeError):
        builder.add(T0, None, b"x" * 1000, None)
    assert builder.next_offset() == 0
    assert builder.add(T0, None, b"x" * 900, None) == 0
