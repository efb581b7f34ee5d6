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
from collections.abc import Callable

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


# --- the per-configuration closures of _fastpath, against the general methods --------------------

KEY = b"k" * 32
CODECS: dict[str, dict[str, object]] = {
    "gzip": {"data_compression": True, "compression": {"algorithm": "gzip"}},
    "zstd": {"data_compression": True, "compression": {"algorithm": "zstd"}},
    "gcm": {
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "mode": "GCM", "key_length": 256, "key": KEY},
    },
    "cbc-pkcs7-text": {
        "value_type": "text",
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "mode": "CBC", "padding": "pkcs7", "key": KEY[:16]},
    },
    "gcm-password-zstd": {
        "data_compression": True,
        "compression": {"algorithm": "zstd"},
        "data_encryption": True,
        "crypto": {
            "algorithm": "AES",
            "mode": "GCM",
            "password": "hot-path",
            "key_derivation": {"iteration": 10},
        },
    },
}


def _value(params: dict[str, object], step: int, size: int) -> object:
    if params.get("value_type") == "text":
        return chr(0x61 + step % 26) * size
    return bytes([step % 251]) * size


@pytest.mark.parametrize("codec", list(CODECS))
@given(
    st.lists(st.tuples(STEPS, SIZES, st.integers(0, 2)), min_size=1, max_size=30),
    st.integers(0, 2**20),
)
def test_fast_encode_and_decode_give_what_the_general_methods_give(
    codec: str, steps: list[tuple[int, int, int]], start: int
) -> None:
    """Three writers (each with its own salt) interleaved, timestamps across the cache spans."""
    params = CODECS[codec]
    writers = [Encoder(params) for _ in range(3)]
    dec, ref = Decoder(params), Decoder(params)
    ts = NOW_US + start
    for step, size, w in steps:
        ts += step
        value = _value(params, step, size)
        wire, unc, comp = writers[w].encode(value, ts)
        assert ref._decode(wire) == (value, ts, unc, comp)
        assert dec.decode(wire) == (value, ts, unc, comp)
        assert dec.decode(PluginMessage(wire, 0)) == (value, ts, unc, comp)


def _outcome(decode: Callable[[bytes], object], data: bytes) -> object:
    """What ``decode(data)`` gives, or the class and text of the error it raises
    (CBC cannot tell every altered message: then both must give the same value)."""
    try:
        return decode(data)
    except InvalidMessageError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("codec", ["gcm", "gcm-password-zstd", "cbc-pkcs7-text"])
def test_fast_decode_raises_what_the_general_method_raises(codec: str) -> None:
    params = CODECS[codec]
    wire = Encoder(params).encode(_value(params, 1, 300), NOW_US)[0]
    dec = Decoder(params)
    dec.decode(wire)  # the fast path now knows this writer
    bad = [wire[:n] for n in (0, 6, 14, 30, 40, len(wire) - 1)]
    for i in (6, 14, 20, 40, len(wire) - 1):
        altered = bytearray(wire)
        altered[i] ^= 0x5A
        bad.append(bytes(altered))
    for data in bad:
        assert _outcome(dec.decode, data) == _outcome(Decoder(params)._decode, data), data.hex()
    assert dec.decode(wire)[0] == _value(params, 1, 300)  # the bad ones left it working


def test_a_wrong_key_fails_on_the_fast_path_too() -> None:
    wire = Encoder(CODECS["gcm"]).encode(b"secret", NOW_US)[0]
    crypto = {"algorithm": "AES", "mode": "GCM", "key_length": 256, "key": b"x" * 32}
    dec = Decoder({"data_encryption": True, "crypto": crypto})
    for _ in range(3):  # the first through the general path, then through the fast one
        with pytest.raises(InvalidMessageError, match="authentication failed"):
            dec.decode(wire)


def test_the_gcm_opener_reads_a_large_block_through_a_view() -> None:
    from sinetstream._crypto_modes import _VIEW_ABOVE

    params = CODECS["gcm"]
    for size in (_VIEW_ABOVE - 100, _VIEW_ABOVE, _VIEW_ABOVE + 1, 70000):
        payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        wire = Encoder(params).encode(payload, NOW_US)[0]
        dec = Decoder(params)
        assert dec.decode(wire)[0] == dec.decode(wire)[0] == payload
        tampered = wire[:-1] + bytes([wire[-1] ^ 1])
        with pytest.raises(InvalidMessageError, match="authentication failed"):
            dec.decode(tampered)
