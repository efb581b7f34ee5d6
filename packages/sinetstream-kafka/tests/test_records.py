"""The reader's record-batch decoder against kafka-python's own (no broker needed).

Every fetch payload is decoded twice, by kafka-python's ``Fetcher.PartitionRecords``
and by ours, through the same ``take()`` calls: the records, offsets, leader
epochs, metrics counters and errors must be identical.
"""

from __future__ import annotations

import collections
import struct
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError, KafkaError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c
from kafka.structs import TopicPartition
from sinetstream_kafka import _records
from sinetstream_kafka._records import PartitionRecords

TP = TopicPartition("sensors", 3)
# the fields of a FetchResponse's aborted transaction that the fetcher reads
Aborted = collections.namedtuple("Aborted", ["producer_id", "first_offset"])
READ_COMMITTED = 1
GZIP = 1
T0 = 1_700_000_000_000

# (offset delta, timestamp, key, value, headers)
Rec = tuple[int, int, "bytes | None", "bytes | None", list[tuple[str, "bytes | None"]]]


def v2_batch(
    records: list[Rec],
    *,
    base_offset: int = 0,
    compression: int = 0,
    producer_id: int = -1,
    transactional: bool = False,
    control: bool = False,
    log_append_time: int | None = None,
    leader_epoch: int = 0,
) -> bytes:
    """A message-format v2 batch as a broker would return it."""
    has_pid = producer_id >= 0
    builder = DefaultRecordBatchBuilder(
        2,
        compression,
        transactional,
        producer_id,
        0 if has_pid else -1,
        0 if has_pid else -1,
        1 << 30,
    )
    for rec in records:
        builder.append(*rec)
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base_offset)
    struct.pack_into(">i", data, 12, leader_epoch)
    attributes = struct.unpack_from(">h", data, 21)[0]
    if control:
        attributes |= 0x20
    if log_append_time is not None:
        attributes |= 0x08
        struct.pack_into(">q", data, 35, log_append_time)
    struct.pack_into(">h", data, 21, attributes)
    struct.pack_into(">I", data, 17, calc_crc32c(memoryview(data)[21:]))
    return bytes(data)


def legacy_batch(magic: int, records: list[tuple[int, int, bytes | None, bytes | None]]) -> bytes:
    builder = LegacyRecordBatchBuilder(magic, 0, 1 << 30)
    for offset, ts, key, value in records:
        builder.append(offset, ts if magic else None, key, value)
    return bytes(builder.build())


def control_batch(base_offset: int, producer_id: int, *, abort: bool) -> bytes:
    marker = struct.pack(">hh", 0, 0 if abort else 1)
    return v2_batch(
        [(0, T0, marker, b"\x00\x00\x00\x00\x00\x00", [])],
        base_offset=base_offset,
        producer_id=producer_id,
        transactional=True,
        control=True,
    )


def plain(n: int, size: int = 10, base_offset: int = 0, **kw: Any) -> bytes:
    return v2_batch(
        [(i, T0 + i, None, bytes([i % 256]) * size, []) for i in range(n)],
        base_offset=base_offset,
        **kw,
    )


def decode(
    cls: type, payload: bytes, *, fetch_offset: int = 0, n: int | None = None, **kw: Any
) -> tuple[list[Any], list[Any], Any]:
    """Drain ``payload`` like the fetcher does: records, state after each take, error."""
    drained: list[Any] = []
    part = cls(fetch_offset, TP, MemoryRecords(payload), on_drain=drained.append, **kw)
    records: list[Any] = []
    steps: list[Any] = []
    error = None
    while part:
        try:
            got = part.take(n)
        except Exception as exc:
            error = (type(exc), str(exc))
            break
        records.extend(got)
        steps.append(
            (
                len(got),
                part.next_fetch_offset,
                part.leader_epoch,
                part.records_read,
                part.bytes_read,
            )
        )
    return records, [*steps, len(drained)], error


def assert_same(payload: bytes, **kw: Any) -> list[Any]:
    """Ours decodes ``payload`` as kafka-python does; where kafka-python fails with a
    parsing error (struct.error, IndexError, ...), ours says CorruptRecordError."""
    expected = decode(Fetcher.PartitionRecords, payload, **kw)
    actual = decode(PartitionRecords, payload, **kw)
    if expected[2] is not None:
        # Ours ends the fetch on an error (drained: kafka-python's fetcher would ask
        # a failed PartitionRecords for records forever); kafka-python's does not.
        assert actual[1][-1] == 1
        assert expected[1][-1] == 0
        actual = (actual[0], actual[1][:-1], actual[2])
        expected = (expected[0], expected[1][:-1], expected[2])
    if expected[2] is not None and not issubclass(expected[2][0], KafkaError):
        assert actual[2] is not None
        assert actual[2][0] is CorruptRecordError
        assert actual[:2] == expected[:2]
    else:
        assert actual == expected
    return actual[0]


# -- examples -------------------------------------------------------------------


def test_plain_batches_give_kafka_pythons_consumer_records() -> None:
    payload = plain(15, 1024) + plain(15, 1024, base_offset=15, leader_epoch=7)
    records = assert_same(payload, n=500)
    assert [r.offset for r in records] == list(range(30))
    assert records[0].value == b"\x00" * 1024
    assert records[-1].leader_epoch == 7
    assert type(records[0]).__name__ == "ConsumerRecord"


@pytest.mark.parametrize(
    "size", [0, 1, 50, 62, 63, 64, 65, 127, 128, 8170, 8180, 8191, 8192, 8193, 16384, 70_000]
)
def test_every_varint_width_of_key_value_and_record_length(size: int) -> None:
    records: list[Rec] = [
        (0, T0, b"k" * size, b"v" * size, []),
        (1, T0 - 5000, None, b"v" * size, []),  # a negative timestamp delta
        (2, T0 + 10**9, b"k" * size, None, []),
        (3, T0, b"", b"", []),
    ]
    assert_same(v2_batch(records, base_offset=2**40))


def test_headers_keys_and_nulls() -> None:
    headers = [("content-type", b"image/png"), ("trace", None), ("ünïcode", b""), ("x" * 300, b"y")]
    records: list[Rec] = [(0, T0, b"id-1", b"payload", headers), (1, T0, None, None, [("a", b"b")])]
    got = assert_same(v2_batch(records))
    assert got[0].headers == headers
    assert got[0].serialized_header_size == sum(len(k.encode()) + len(v or b"") for k, v in headers)


def test_offsets_with_gaps_as_after_compaction() -> None:
    # Compaction removes records but keeps a batch's last offset: the next fetch
    # must start after the batch, not after its last surviving record.
    records: list[Rec] = [(0, T0, b"a", b"1", []), (4, T0, b"b", b"2", []), (9, T0, b"c", b"3", [])]
    payload = v2_batch(records, base_offset=100)
    data = bytearray(payload)
    struct.pack_into(">i", data, 23, 12)  # LastOffsetDelta beyond the last record
    struct.pack_into(">I", data, 17, calc_crc32c(memoryview(data)[21:]))
    assert_same(bytes(data), fetch_offset=100)
    _, steps, _ = decode(PartitionRecords, bytes(data), fetch_offset=100)
    assert steps[-2][1] == 113


def test_fetch_offset_inside_a_batch_skips_the_records_before_it() -> None:
    payload = plain(20) + plain(20, base_offset=20)
    records = assert_same(payload, fetch_offset=27, n=3)
    assert records[0].offset == 27
    assert len(records) == 13


def test_a_partial_batch_at_the_end_of_a_fetch_is_left_for_the_next() -> None:
    payload = plain(5) + plain(5, base_offset=5)[:40]
    assert [r.offset for r in assert_same(payload)] == [0, 1, 2, 3, 4]
    assert assert_same(plain(5)[:11]) == []


def test_log_append_time_gives_the_brokers_timestamp() -> None:
    got = assert_same(plain(3, log_append_time=T0 + 777))
    assert {r.timestamp for r in got} == {T0 + 777}
    assert got[0].timestamp_type == 1


def test_compressed_and_legacy_batches_mixed_with_plain_ones() -> None:
    payload = (
        legacy_batch(0, [(0, T0, None, b"v0"), (1, T0, b"k", b"v0b")])
        + legacy_batch(1, [(2, T0 + 1, None, b"v1")])
        + plain(4, base_offset=3)
        + plain(4, 2000, base_offset=7, compression=GZIP)
        + plain(2, base_offset=11)
    )
    records = assert_same(payload, n=4)
    assert [r.offset for r in records] == list(range(13))


def test_transactions_under_read_committed_skip_aborted_batches_and_markers() -> None:
    txn = {"producer_id": 42, "transactional": True}
    payload = (
        plain(3, base_offset=0, **txn)  # aborted
        + control_batch(3, 42, abort=True)
        + plain(2, base_offset=4, **txn)  # committed
        + control_batch(6, 42, abort=False)
        + plain(2, base_offset=7)
    )
    aborted = [Aborted(producer_id=42, first_offset=0)]
    records = assert_same(payload, isolation_level=READ_COMMITTED, aborted_transactions=aborted)
    assert [r.offset for r in records] == [4, 5, 7, 8]
    # read_uncommitted sees every data record, never a marker
    records = assert_same(payload)
    assert [r.offset for r in records] == [0, 1, 2, 4, 5, 7, 8]


def test_a_bad_crc_is_refused_like_kafka_python() -> None:
    data = bytearray(plain(5, 100))
    data[200] ^= 0x01
    records, _, error = decode(PartitionRecords, bytes(data))
    assert records == []
    assert error is not None
    assert error[0] is CorruptRecordError
    assert assert_same(bytes(data)) == []


def test_a_corrupt_batch_names_the_records_to_skip_and_ends_the_fetch() -> None:
    bad = bytearray(plain(5, base_offset=5))
    bad[-1] ^= 0xFF
    part = PartitionRecords(0, TP, MemoryRecords(plain(5) + bytes(bad) + plain(5, base_offset=10)))
    assert [r.offset for r in part.take()] == [0, 1, 2, 3, 4]
    with pytest.raises(CorruptRecordError) as info:
        part.take()
    assert info.value.corrupt_records == _records.CorruptRecords(TP, 5, 10)
    assert not part  # drained: kafka-python's fetcher moves on instead of asking again


def test_a_batch_too_short_at_the_end_of_a_fetch_is_a_corrupt_record_error() -> None:
    payload = plain(2) + struct.pack(">qi", 2, 0)  # a batch of length 0, the fetch's last bytes
    part = PartitionRecords(0, TP, MemoryRecords(payload))
    assert len(part.take()) == 2
    with pytest.raises(CorruptRecordError) as info:
        part.take()
    assert info.value.corrupt_records == _records.CorruptRecords(TP, 2, 3)


def test_with_check_crcs_off_a_garbled_record_is_a_corrupt_record_error() -> None:
    data = bytearray(plain(3, 100))
    data[61] = 0x7E  # the first record's length
    _, _, error = decode(PartitionRecords, bytes(data), check_crcs=False)
    assert error is not None
    assert error[0] is CorruptRecordError
    assert "record" in error[1].lower()


def test_deserializers_leave_decoding_to_kafka_python() -> None:
    class Tagged:
        def deserialize(self, topic: str, headers: Any, data: bytes | None) -> Any:
            return (topic, data)

    records = assert_same(plain(3), value_deserializer=Tagged(), key_deserializer=Tagged())
    assert records[1].value == ("sensors", b"\x01" * 10)
    assert records[1].key == ("sensors", None)


def test_install_replaces_the_decoder_of_one_consumer_only() -> None:
    consumer = KafkaConsumer(bootstrap_servers=[], api_version=(2, 6))
    try:
        assert _records.install(consumer)
        assert consumer._fetcher.PartitionRecords is PartitionRecords
        assert Fetcher.PartitionRecords is not PartitionRecords
    finally:
        consumer.close()


@pytest.mark.parametrize(
    "consumer",
    [object(), types.SimpleNamespace(_fetcher=object()), types.SimpleNamespace(_fetcher=None)],
    ids=["no fetcher", "fetcher without PartitionRecords", "fetcher None"],
)
def test_install_leaves_a_consumer_it_does_not_know_alone(consumer: Any) -> None:
    assert not _records.install(consumer)


def test_install_leaves_a_fetcher_with_slots_alone() -> None:
    class SlottedFetcher:
        __slots__ = ()
        PartitionRecords = Fetcher.PartitionRecords

    assert not _records.install(types.SimpleNamespace(_fetcher=SlottedFetcher()))


def test_this_kafka_python_is_served_by_the_fast_decoder() -> None:
    # A kafka-python release that changes the internals the decoder relies on
    # falls back to its own decoder; this test says when that happens.
    assert _records._INCOMPATIBLE is None


# -- properties -------------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.binary(max_size=80),
    st.sampled_from([63, 64, 8191, 8192]).map(lambda n: b"x" * n),
)
_headers = st.lists(
    st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=8))), max_size=3
)


@st.composite
def fetches(draw: Any) -> tuple[bytes, int]:
    """Several batches of random kinds, maybe a partial one at the end; and a fetch offset."""
    payload = bytearray()
    offset = draw(st.integers(0, 2**33))
    first = offset
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["v2", "v2", "v2", "gzip", "v1"]))
        count = draw(st.integers(1, 12))
        if kind == "v1":
            ts = draw(st.integers(0, 2**41))
            legacy = [(offset + i, ts, draw(_values), draw(_values)) for i in range(count)]
            payload += legacy_batch(1, legacy)
            offset += count
            continue
        unique_deltas = st.lists(st.integers(0, 300), min_size=count, max_size=count, unique=True)
        deltas = sorted(draw(unique_deltas))
        recs: list[Rec] = [
            (
                d,
                draw(st.integers(-(2**40), 2**41)),
                draw(_values),
                draw(_values),
                draw(_headers),
            )
            for d in deltas
        ]
        payload += v2_batch(
            recs,
            base_offset=offset,
            compression=GZIP if kind == "gzip" else 0,
            log_append_time=draw(st.one_of(st.none(), st.integers(0, 2**41))),
            leader_epoch=draw(st.integers(-1, 2**31 - 1)),
        )
        offset += deltas[-1] + 1 + draw(st.integers(0, 3))
    if draw(st.booleans()):
        payload += plain(3, base_offset=offset)[: draw(st.integers(0, 60))]
    return bytes(payload), draw(st.integers(first, offset + 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fetch=fetches(), n=st.one_of(st.none(), st.integers(1, 7)))
def test_any_fetch_decodes_exactly_as_kafka_python(fetch: tuple[bytes, int], n: int | None) -> None:
    payload, fetch_offset = fetch
    assert_same(payload, fetch_offset=fetch_offset, n=n)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_changed_byte_is_refused_or_ignored_as_by_kafka_python(data: Any) -> None:
    payload = bytearray(plain(4, 30) + plain(3, 30, base_offset=4))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] ^= data.draw(st.integers(1, 255))
    assert_same(bytes(payload))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_without_crc_checks_a_garbled_record_never_escapes_as_another_error(data: Any) -> None:
    payload = bytearray(v2_batch([(i, T0, b"key", b"value" * i, [("h", b"v")]) for i in range(6)]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(61, len(payload) - 1))  # inside the records
        payload[at] = data.draw(st.integers(0, 255))
    _, _, error = decode(PartitionRecords, bytes(payload), check_crcs=False)
    assert error is None or error[0] is CorruptRecordError, error
