"""The per-message shortcuts of the hot path give what the plain functions give.

The Encoder caches the bytes between a timestamp's first byte and the
payload, the AvroUnpacker the bytes after a timestamp's second byte with the
payload length, the Decoder recognises an unencrypted v3 message with one
comparison, and MetricsRecorder folds counts in batches: each is checked here
against the straightforward computation, across the boundaries where a cache
entry changes.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sinetstream._metrics import MetricsRecorder
from sinetstream._pipeline import Decoder, Encoder
from sinetstream._wire import AvroUnpacker, avro_pack, avro_unpack, v3_pack
from sinetstream.error import InvalidMessageError
from sinetstream.spi import PluginMessage

NOW_US = 1_767_225_600_000_000
# steps that stay within, and cross, the 64 µs and 8 ms spans of the caches
STEPS = st.sampled_from([0, 1, 10, 63, 64, 65, 127, 128, 8191, 8192, 8193, 16384, 10**6])
SIZES = st.sampled_from([0, 1, 63, 64, 100, 1024, 8191, 8192, 70000])


@given(st.lists(st.tuples(STEPS, SIZES), min_size=1, max_size=40), st.integers(0, 2**20))
def test_encoder_and_decoder_match_the_plain_functions(
    steps: list[tuple[int, int]], start: int
) -> None:
    enc, dec = Encoder({}), Decoder({})
    unpack = AvroUnpacker().unpack
    ts = NOW_US + start
    for step, size in steps:
        ts += step
        payload = bytes([step % 251]) * size
        wire, unc, comp = enc.encode(payload, ts)
        assert wire == v3_pack(0, avro_pack(ts, payload))
        assert unc == comp == size
        assert dec.decode(wire) == (payload, ts, size, size)
        assert unpack(wire, 6) == avro_unpack(wire, 6) == (ts, payload)


@given(st.lists(st.tuples(st.integers(-(2**40), 2**40), SIZES), max_size=20))
def test_small_and_negative_timestamps_take_the_uncached_path(
    messages: list[tuple[int, int]],
) -> None:
    enc, dec = Encoder({}), Decoder({})
    for ts, size in messages:
        payload = b"p" * size
        wire, _, _ = enc.encode(payload, ts)
        assert wire == v3_pack(0, avro_pack(ts, payload))
        assert dec.decode(wire)[:2] == (payload, ts)


def test_a_timestamp_beyond_64_bits_is_refused_after_cached_ones() -> None:
    enc = Encoder({})
    enc.encode(b"x", NOW_US)
    with pytest.raises(InvalidMessageError, match="64-bit"):
        enc.encode(b"x", 1 << 63)
    with pytest.raises(InvalidMessageError, match="64-bit"):
        enc.encode(b"x", -(1 << 63) - 1)


def test_decoder_cache_does_not_hide_a_truncated_or_altered_message() -> None:
    enc, dec = Encoder({}), Decoder({})
    wire, _, _ = enc.encode(b"a" * 100, NOW_US)
    assert dec.decode(wire)[0] == b"a" * 100  # the cache now holds this message's tail
    with pytest.raises(InvalidMessageError, match="truncated"):
        dec.decode(wire[:-1])
    longer, _, _ = enc.encode(b"b" * 101, NOW_US + 1)
    assert dec.decode(longer)[0] == b"b" * 101
    assert dec.decode(wire + b"trailing")[0] == b"a" * 100  # ignored, as in 1.10
    with pytest.raises(InvalidMessageError):
        dec.decode(wire[:16])


def test_user_data_only_takes_the_timestamp_of_a_plugin_message() -> None:
    dec = Decoder({"user_data_only": True})
    assert dec.decode(PluginMessage(b"raw", 1234)) == (b"raw", 1234, 3, 3)
    assert dec.decode(b"raw") == (b"raw", 0, 3, 3)
    assert dec.decode(PluginMessage(b"raw", 1234), 99)[1] == 99


def test_metrics_count_every_message_across_folds_and_threads() -> None:
    recorder = MetricsRecorder()
    per_thread = MetricsRecorder.FOLD_AT * 3 + 7

    def count(size: int) -> None:
        for _ in range(per_thread):
            recorder.message(size, size - 1, size - 2)

    threads = [threading.Thread(target=count, args=(size,)) for size in (10, 20, 30, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recorder.error()
    m = recorder.snapshot()
    n = 4 * per_thread
    assert m.msg_count_total == n
    assert m.msg_bytes_total == per_thread * (10 + 20 + 30 + 40)
    assert m.msg_uncompressed_bytes_total == m.msg_bytes_total - n
    assert m.msg_compressed_bytes_total == m.msg_bytes_total - 2 * n
    assert (m.msg_size_min, m.msg_size_max) == (10, 40)
    assert m.error_count_total == 1
    assert m.start_time <= m.end_time


def test_metrics_snapshot_and_reset_see_messages_not_yet_folded() -> None:
    recorder = MetricsRecorder()
    recorder.message(5, 5, 5)
    first = recorder.snapshot()
    assert (first.msg_count_total, first.msg_size_min, first.msg_size_max) == (1, 5, 5)
    assert first.end_time >= first.start_time
    recorder.message(7, 7, 7)
    recorder.reset()
    assert recorder.snapshot().msg_count_total == 0
    recorder.message(3, 3, 3)
    after = recorder.snapshot()
    assert (after.msg_count_total, after.msg_bytes_total, after.msg_size_min) == (1, 3, 3)
