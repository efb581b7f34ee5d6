"""Readers refuse payloads that inflate past compression.max_decompressed_bytes."""

from __future__ import annotations

import zlib

import pytest
import zstandard
from sinetstream import InvalidArgumentError, InvalidMessageError
from sinetstream._compression import MAX_DECOMPRESSED_BYTES, resolve_compression
from sinetstream._pipeline import Decoder, Encoder


def _params(algorithm: str, limit: int | None = None) -> dict[str, object]:
    compression: dict[str, object] = {"algorithm": algorithm}
    if limit is not None:
        compression["max_decompressed_bytes"] = limit
    return {"data_compression": True, "compression": compression}


@pytest.mark.parametrize("algorithm", ["gzip", "zstd"])
def test_payload_over_the_limit_is_an_invalid_message(algorithm: str) -> None:
    wire, _, compressed = Encoder(_params(algorithm)).encode(b"\0" * 5000, 1)
    assert compressed < 100
    assert Decoder(_params(algorithm, 5000)).decode(wire)[0] == b"\0" * 5000
    with pytest.raises(InvalidMessageError, match="max_decompressed_bytes"):
        Decoder(_params(algorithm, 4999)).decode(wire)


def test_zstd_frame_without_content_size_is_bounded_while_inflating() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * 10_000_000)
    decompress = resolve_compression(
        {"algorithm": "zstd", "max_decompressed_bytes": 1 << 20}, writer=False
    ).decompress
    with pytest.raises(InvalidMessageError, match="more than 1048576 bytes"):
        decompress(frame)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(b"\0" * (MAX_DECOMPRESSED_BYTES + 1), 9)
    assert len(bomb) < 300_000
    with pytest.raises(InvalidMessageError, match="more than"):
        resolve_compression({"algorithm": "gzip"}, writer=False).decompress(bomb)


@pytest.mark.parametrize("limit", [0, -5, "big", True])
def test_bad_limit(limit: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_decompressed_bytes"):
        resolve_compression({"algorithm": "gzip", "max_decompressed_bytes": limit}, writer=False)


@pytest.mark.parametrize("limit", [1 << 16, 1 << 20, 5_000_000])
def test_gzip_limit_holds_for_the_most_compressible_input(limit: int) -> None:
    # Small inputs are inflated in one call, trusting deflate's 1032:1 bound:
    # zeros, the best case of deflate, just over the limit are still refused.
    decompress = resolve_compression(
        {"algorithm": "gzip", "max_decompressed_bytes": limit}, writer=False
    ).decompress
    for level in (1, 6, 9):
        assert decompress(zlib.compress(b"\0" * limit, level)) == b"\0" * limit
        with pytest.raises(InvalidMessageError, match="more than"):
            decompress(zlib.compress(b"\0" * (limit + 1), level))
