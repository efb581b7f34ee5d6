"""The pure wire-format functions: Avro single-object encoding and the v3 header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinetstream._wire import (
    AVRO_PREFIX,
    V3_MARKER,
    AvroUnpacker,
    TimestampEncoder,
    avro_pack,
    avro_unpack,
    check_timestamp,
    decode_varint,
    encode_varint,
    v3_pack,
    v3_plain_prefix,
    v3_unpack,
    zigzag_decode,
    zigzag_encode,
)
from sinetstream.error import InvalidMessageError

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)

# facts §3.7, captured from SINETStream 1.10
AVRO_HELLO = bytes.fromhex("c3011f9c0c91eb33664f80898182838985060a68656c6c6f")
V2_HI = bytes.fromhex("c3011f9c0c91eb33664f80897a046869")


def test_avro_prefix_is_marker_and_fingerprint() -> None:
    # The docs print "...33 06 4F"; the code and a recomputation give 66.
    assert AVRO_PREFIX.hex() == "c3011f9c0c91eb33664f"
    assert V3_MARKER.hex() == "df030000"
    assert v3_plain_prefix().hex() == "df0300000000c3011f9c0c91eb33664f"


def test_avro_pack_reference_vectors() -> None:
    assert avro_pack(1700000000123456, b"hello") == AVRO_HELLO
    assert avro_pack(1_000_000, b"hi") == V2_HI


def test_avro_unpack_reference_vectors() -> None:
    assert avro_unpack(AVRO_HELLO) == (1700000000123456, b"hello")
    assert avro_unpack(V2_HI) == (1_000_000, b"hi")


def test_avro_unpack_ignores_trailing_bytes() -> None:
    assert avro_unpack(V2_HI + b"garbage") == (1_000_000, b"hi")


def test_v3_pack_and_unpack() -> None:
    packed = v3_pack(0, V2_HI)
    assert packed.hex() == "df0300000000c3011f9c0c91eb33664f80897a046869"
    assert v3_unpack(packed) == (0, V2_HI)
    assert v3_unpack(v3_pack(0x1234, b"x")) == (0x1234, b"x")
    assert v3_pack(65535, b"x")[4:6] == b"\xff\xff"


@pytest.mark.parametrize("version", [-1, 65536])
def test_v3_pack_rejects_key_version_out_of_16_bits(version: int) -> None:
    with pytest.raises(InvalidMessageError, match="16 bits"):
        v3_pack(version, b"x")


@pytest.mark.parametrize(
    "data",
    [b"", b"\xdf\x03\x00\x00\x00\x00", b"\xdf\x03\x00\x01\x00\x00x", V2_HI],
)
def test_v3_unpack_returns_none_for_v2_or_short(data: bytes) -> None:
    # 6 bytes or fewer, or no marker: not a v3 packet (the reader falls back to v2)
    assert v3_unpack(data) is None


def test_avro_unpack_rejects_wrong_marker() -> None:
    with pytest.raises(InvalidMessageError, match="Avro marker is df03"):
        avro_unpack(v3_pack(0, V2_HI))


def test_avro_unpack_rejects_wrong_fingerprint() -> None:
    bad = V2_HI[:5] + b"\x06" + V2_HI[6:]
    with pytest.raises(InvalidMessageError, match="fingerprint"):
        avro_unpack(bad)


@pytest.mark.parametrize("length", range(len(AVRO_HELLO)))
def test_avro_unpack_rejects_every_truncation(length: int) -> None:
    with pytest.raises(InvalidMessageError, match="truncated"):
        avro_unpack(AVRO_HELLO[:length])


def test_avro_unpack_rejects_negative_length_and_overlong_varint() -> None:
    with pytest.raises(InvalidMessageError, match="negative"):
        avro_unpack(AVRO_PREFIX + b"\x00\x03abc")
    with pytest.raises(InvalidMessageError, match="longer than 10"):
        avro_unpack(AVRO_PREFIX + b"\xff" * 11 + b"\x00")


def test_check_timestamp() -> None:
    check_timestamp((1 << 63) - 1)
    check_timestamp(-(1 << 63))
    with pytest.raises(InvalidMessageError):
        check_timestamp(1 << 63)


@given(INT64)
def test_zigzag_roundtrip(n: int) -> None:
    z = zigzag_encode(n)
    assert z >= 0
    assert zigzag_decode(z) == n


def test_zigzag_known_values() -> None:
    assert [zigzag_encode(n) for n in (0, -1, 1, -2, 2)] == [0, 1, 2, 3, 4]


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.binary(max_size=4))
def test_varint_roundtrip(n: int, tail: bytes) -> None:
    enc = encode_varint(n)
    assert len(enc) <= 10
    assert decode_varint(enc + tail, 0) == (n, len(enc))


@given(INT64, st.binary(max_size=300), st.binary(max_size=5))
def test_avro_roundtrip(ts: int, payload: bytes, tail: bytes) -> None:
    assert avro_unpack(avro_pack(ts, payload) + tail) == (ts, payload)


def test_avro_unpack_at_an_offset() -> None:
    assert avro_unpack(b"\xdf\x03\x00\x00\x00\x00" + AVRO_HELLO, 6) == (1700000000123456, b"hello")
    with pytest.raises(InvalidMessageError, match="truncated"):
        avro_unpack(b"123456" + AVRO_HELLO[:10], 6)


# payloads up to 200 bytes: one- and two-byte Avro lengths
@given(st.lists(st.tuples(INT64, st.binary(max_size=200), st.integers(0, 3)), max_size=30))
def test_cached_timestamp_paths_match_the_plain_functions(
    messages: list[tuple[int, bytes, int]],
) -> None:
    stamp, unpack = TimestampEncoder().encode, AvroUnpacker().unpack
    base = 1_767_225_600_000_000
    for ts, payload, cut in messages:
        for t in (ts, base + (ts % 10_000)):  # arbitrary, and close together (cache hits)
            first, rest = stamp(t)
            wire = avro_pack(t, payload)
            assert AVRO_PREFIX + first + rest == wire[: 10 + len(first) + len(rest)]
            assert unpack(wire) == avro_unpack(wire) == (t, payload)
            truncated = wire[: len(wire) - 1 - cut] if cut < len(wire) else b""
            with pytest.raises(InvalidMessageError):
                unpack(truncated)


def test_avro_unpacker_cache_does_not_match_unrelated_bytes() -> None:
    unpack = AvroUnpacker().unpack
    a = avro_pack(1_000_000_000_000_000, b"a")
    b = avro_pack(2_000_000_000_000_000, b"b")
    assert unpack(a) == (1_000_000_000_000_000, b"a")
    assert unpack(b) == (2_000_000_000_000_000, b"b")
    assert unpack(a) == (1_000_000_000_000_000, b"a")
    assert unpack(avro_pack(5, b"c")) == (5, b"c")
    # a fresh unpacker must not treat 0xff after the first byte as a cached tail
    assert AvroUnpacker().unpack(AVRO_PREFIX + b"\x81\xff\x01\x02ab") == avro_unpack(
        AVRO_PREFIX + b"\x81\xff\x01\x02ab"
    )
