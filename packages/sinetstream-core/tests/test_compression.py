"""Compression: gzip (a zlib stream), zstd, levels, codec arguments, plugins."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from sinetstream._compression import resolve_compression
from sinetstream._registry import registry
from sinetstream.error import InvalidArgumentError, InvalidMessageError
from sinetstream.spi import PluginCompression

DATA = b"SINETStream " * 50 + bytes(range(256))


def test_gzip_is_a_zlib_stream_at_the_default_level() -> None:
    c = resolve_compression({"algorithm": "gzip"}, writer=True)
    out = c.compress(DATA)
    assert out[:2] == b"\x78\x9c"
    obj = zlib.compressobj(-1)
    assert out == obj.compress(DATA) + obj.flush()
    assert c.decompress(out) == DATA


def test_default_algorithm_is_gzip() -> None:
    assert resolve_compression(None, writer=True).name == "gzip"
    assert resolve_compression({"level": 1}, writer=True).name == "gzip"


@pytest.mark.parametrize("level", range(-1, 10))
def test_gzip_levels_match_zlib(level: int) -> None:
    c = resolve_compression({"algorithm": "gzip", "level": level}, writer=True)
    obj = zlib.compressobj(level)
    assert c.compress(DATA) == obj.compress(DATA) + obj.flush()
    assert c.decompress(c.compress(DATA)) == DATA


# Input sizes at the edges of the window sizes the compressor picks (2**n - 262),
# and beyond the largest window.
EDGE_SIZES = [0, 1, 249, 250, 251, 762, 763, 16121, 16122, 32505, 32506, 32507, 36000, 70000]


@pytest.mark.parametrize("level", range(-1, 10))
def test_gzip_bytes_are_the_references_at_every_size(level: int) -> None:
    text = b"".join(b"%d,%d;" % (i, i * i % 977) for i in range(20000))
    c = resolve_compression({"algorithm": "gzip", "level": level}, writer=True)
    for size in EDGE_SIZES:
        for data in (text[:size], bytes(size), zlib.compress(text)[:size]):
            obj = zlib.compressobj(level)
            assert c.compress(data) == obj.compress(data) + obj.flush(), size
            assert c.decompress(c.compress(data)) == data


def test_gzip_small_message_does_not_take_zlibs_whole_default_state() -> None:
    """zlib's default deflate state (~300 KiB) is allocated per message; a 1 KiB
    message needs far less, which spares a small process page faults on every
    message (glibc returns a freed top of heap to the kernel)."""
    c = resolve_compression({"algorithm": "gzip"}, writer=True)
    data = DATA[:1024]
    c.compress(data)
    tracemalloc.start()
    try:
        c.compress(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000


@pytest.mark.parametrize("level", [-2, 10, 100])
def test_gzip_level_out_of_range_fails_at_construction(level: int) -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression.level: .* gzip \(-1..9\)"):
        resolve_compression({"algorithm": "gzip", "level": level}, writer=True)


def test_reader_ignores_the_level() -> None:
    c = resolve_compression({"algorithm": "gzip", "level": 42}, writer=False)
    assert c.decompress(zlib.compress(DATA)) == DATA
    z = resolve_compression({"algorithm": "zstd", "level": 99}, writer=False)
    assert z.decompress(zstandard.ZstdCompressor().compress(DATA)) == DATA


def test_level_must_be_an_integer() -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression\.level: must be an integer"):
        resolve_compression({"algorithm": "gzip", "level": "9"}, writer=True)


def test_gzip_extra_arguments_zdict() -> None:
    zdict = b"SINETStream " * 4
    c = resolve_compression({"algorithm": "gzip", "gzip": {"zdict": zdict}}, writer=True)
    out = c.compress(DATA)
    obj = zlib.compressobj(-1, zdict=zdict)
    assert out == obj.compress(DATA) + obj.flush()
    assert c.decompress(out) == DATA
    # without the dictionary the stream cannot be read
    with pytest.raises(InvalidMessageError):
        resolve_compression({"algorithm": "gzip"}, writer=False).decompress(out)


def test_gzip_bad_extra_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression.gzip"):
        resolve_compression({"algorithm": "gzip", "gzip": {"bogus": 1}}, writer=True)
    with pytest.raises(InvalidArgumentError, match=r"compression.gzip: must be a mapping"):
        resolve_compression({"algorithm": "gzip", "gzip": [1]}, writer=True)


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
def test_truncated_or_garbled_input_is_invalid_message(algorithm: str) -> None:
    c = resolve_compression({"algorithm": algorithm}, writer=True)
    out = c.compress(DATA)
    for n in range(len(out)):
        with pytest.raises(InvalidMessageError):
            c.decompress(out[:n])
    with pytest.raises(InvalidMessageError):
        c.decompress(b"\x00" * 20)


def test_zstd_writes_the_content_size() -> None:
    c = resolve_compression({"algorithm": "zstd"}, writer=True)
    out = c.compress(DATA)
    assert zstandard.frame_content_size(out) == len(DATA)
    assert out == zstandard.ZstdCompressor(level=3).compress(DATA)
    assert c.decompress(out) == DATA


def test_zstd_reads_frames_without_content_size() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(DATA)
    assert zstandard.frame_content_size(frame) == -1
    c = resolve_compression({"algorithm": "zstd"}, writer=False)
    assert c.decompress(frame) == DATA
    # a streamed frame (no content size either)
    cobj = zstandard.ZstdCompressor().compressobj()
    streamed = cobj.compress(DATA) + cobj.flush()
    assert c.decompress(streamed) == DATA


@pytest.mark.parametrize("level", [-100, -5, -1, 0, 1, 3, 19, 22])
def test_zstd_levels(level: int) -> None:
    c = resolve_compression({"algorithm": "zstd", "level": level}, writer=True)
    out = c.compress(DATA)
    assert out == zstandard.ZstdCompressor(level=level).compress(DATA)
    assert c.decompress(out) == DATA


def test_zstd_level_above_22_fails_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="at most 22"):
        resolve_compression({"algorithm": "zstd", "level": 23}, writer=True)


def test_zstd_bad_extra_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression\.zstd"):
        resolve_compression({"algorithm": "zstd", "zstd": {"nonsense": True}}, writer=True)


@pytest.mark.parametrize("algorithm", [None, 7, ""])
def test_bad_algorithm(algorithm: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression\.algorithm"):
        resolve_compression({"algorithm": algorithm}, writer=True)


def test_unknown_algorithm() -> None:
    with pytest.raises(InvalidArgumentError, match="no compression plugin named 'nosuch'"):
        resolve_compression({"algorithm": "nosuch"}, writer=True)


def test_compression_must_be_a_mapping() -> None:
    with pytest.raises(InvalidArgumentError, match="compression: must be a mapping"):
        resolve_compression("gzip", writer=True)


class ReverseCompression(PluginCompression):
    """A toy plugin: records its constructor arguments, 'compresses' by reversing."""

    seen: ClassVar[list[tuple[Any, Any]]] = []

    def __init__(self, level: int | None = None, params: Any = None) -> None:
        self.seen.append((level, params))
        if level == -99:
            raise ValueError("level -99 not supported")

    @property
    def compressor(self) -> Callable[[bytes], bytes]:
        return lambda data: data[::-1]

    @property
    def decompressor(self) -> Callable[[bytes], bytes]:
        return lambda data: data[::-1]


@pytest.fixture
def reverse_plugin() -> Iterator[None]:
    ReverseCompression.seen.clear()
    registry("compression").register("reverse", ReverseCompression)
    yield
    registry("compression").unregister("reverse")


@pytest.mark.usefixtures("reverse_plugin")
def test_plugin_gets_level_and_its_params() -> None:
    c = resolve_compression(
        {"algorithm": "reverse", "level": 5, "reverse": {"block": 4}}, writer=True
    )
    assert c.name == "reverse"
    assert c.compress(b"abc") == b"cba"
    assert c.decompress(b"cba") == b"abc"
    resolve_compression({"algorithm": "reverse"}, writer=False)
    assert ReverseCompression.seen == [(5, {"block": 4}), (None, {})]


@pytest.mark.usefixtures("reverse_plugin")
def test_plugin_errors_become_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="level -99 not supported"):
        resolve_compression({"algorithm": "reverse", "level": -99}, writer=True)


@settings(max_examples=100, deadline=None)
@given(
    level=st.integers(min_value=-1, max_value=9),
    chunks=st.lists(st.binary(max_size=2000) | st.sampled_from([b"abc" * 500, b"\x00" * 3000])),
)
def test_gzip_output_is_that_of_compressobj(level: int, chunks: list[bytes]) -> None:
    c = resolve_compression({"algorithm": "gzip", "level": level}, writer=True)
    for data in chunks:
        obj = zlib.compressobj(level)
        assert c.compress(data) == obj.compress(data) + obj.flush()
        assert c.decompress(c.compress(data)) == data


def test_gzip_is_thread_safe() -> None:
    c = resolve_compression({"algorithm": "gzip"}, writer=True)
    z = resolve_compression({"algorithm": "zstd"}, writer=True)
    inputs = [bytes([i]) * (i * 37) + DATA[: i * 11] for i in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for codec in (c, z):
            expected = [codec.compress(d) for d in inputs]
            for _ in range(3):
                assert list(pool.map(codec.compress, inputs)) == expected
                assert list(pool.map(codec.decompress, expected)) == inputs
