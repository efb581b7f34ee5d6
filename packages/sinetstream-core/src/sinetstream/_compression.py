"""Payload compression: built-in ``gzip`` (a zlib stream) and ``zstd``, plus plugins.

Byte-compatible with SINETStream 1.10: ``gzip`` is really a zlib stream
(RFC 1950, ``78 9C`` at the default level), made as by
``zlib.compressobj(level, **compression["gzip"])``; ``zstd`` writes frames with
the content size and reads frames with or without it. Other algorithm names
are looked up in the ``sinetstream.compression`` entry-point group and
constructed as ``cls(level=..., params=compression.get(name) or {})``.

A reader refuses to inflate a payload beyond ``compression.max_decompressed_bytes``
(default 256 MiB), so a small "compression bomb" cannot exhaust its memory.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import zstandard

from ._registry import registry
from .error import CompressionLevelError, InvalidArgumentError, InvalidMessageError, SinetError

__all__ = ["GZIP", "ZSTD", "Compression", "resolve_compression"]

#: Built-in algorithm name: zlib stream (named "gzip" by SINETStream).
GZIP = "gzip"
#: Built-in algorithm name: Zstandard frame.
ZSTD = "zstd"

_GZIP_LEVELS = range(-1, 10)
_GZIP_DEFAULT_LEVEL = -1  # zlib's Z_DEFAULT_COMPRESSION, i.e. level 6
_ZSTD_DEFAULT_LEVEL = 3
# Keyword arguments of zlib.compressobj that also matter when decompressing.
_ZLIB_DECOMPRESS_KEYS = ("wbits", "zdict")
#: Default of ``compression.max_decompressed_bytes``.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
# Deflate's largest expansion (a 258-byte match coded in 2 bits, about 1032:1).
_DEFLATE_MAX_RATIO = 1032
# zlib keeps this much lookahead, so a window reaches len(input) back only if it is
# at least len(input) + 262 bytes; and it accepts no window below 2**9.
_MIN_LOOKAHEAD = 262
_MIN_WBITS = 9
# Input fed per step to a zstd frame of unknown size: bounds the overshoot past the limit.
_ZSTD_STEP = 256

Transform = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Compression:
    """A resolved compression algorithm: its name and its two functions."""

    name: str
    compress: Transform
    decompress: Transform


def _level(compression: Mapping[str, Any]) -> int | None:
    level = compression.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        raise InvalidArgumentError(
            f"compression.level: must be an integer, got {type(level).__name__}"
        )
    return level


def _too_big(algorithm: str, limit: int) -> InvalidMessageError:
    return InvalidMessageError(
        f"{algorithm} payload decompresses to more than {limit} bytes "
        "(raise compression.max_decompressed_bytes if that is expected)"
    )


def _small_window_deflate(level: int) -> Transform:
    """``zlib.compressobj(level)``'s exact output, with a window no larger than the input.

    zlib's default state (a 32 KiB window twice over, a 64 KiB hash table, a
    64 KiB symbol buffer: ~300 KiB) is allocated and freed per message. When it
    is the top of the C heap, glibc returns it to the kernel on every free and
    the next message faults it back in: 50,000 x 1 KiB took 102,540 page faults
    and 1.3 s in a small process, 2,690 and 0.72 s with a fitted window. Such a
    window finds the very same matches (every distance stays within reach; hash
    table and block size stay the default), so the deflate data is identical;
    the header is written as the default's, which still describes the stream
    correctly for any inflater (no distance reaches further).
    """
    header = zlib.compress(b"", level)[:2]

    if sys.version_info >= (3, 11):
        deflate = zlib.compress

        def compress(data: bytes) -> bytes:
            wbits = (len(data) + _MIN_LOOKAHEAD - 1).bit_length()
            if wbits >= zlib.MAX_WBITS:
                return deflate(data, level)
            return header + deflate(data, level, _MIN_WBITS if wbits < _MIN_WBITS else wbits)[2:]

    else:  # zlib.compress() takes no wbits before 3.11

        def compress(data: bytes) -> bytes:
            wbits = (len(data) + _MIN_LOOKAHEAD - 1).bit_length()
            if wbits >= zlib.MAX_WBITS:
                return zlib.compress(data, level)
            obj = zlib.compressobj(level, zlib.DEFLATED, max(wbits, _MIN_WBITS))
            return header + (obj.compress(data) + obj.flush())[2:]

    return compress


def _gzip(level: int | None, params: Mapping[str, Any], writer: bool, limit: int) -> Compression:
    if level is None:
        level = _GZIP_DEFAULT_LEVEL
    elif writer and level not in _GZIP_LEVELS:
        raise CompressionLevelError(f"compression.level: {level} is out of range for gzip (-1..9)")
    kwargs = dict(params)
    try:
        # Validate the extra keyword arguments once, at construction.
        zlib.compressobj(level, **kwargs)
        dkwargs = {k: kwargs[k] for k in _ZLIB_DECOMPRESS_KEYS if k in kwargs}
        zlib.decompressobj(**dkwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"compression.gzip: invalid zlib arguments: {exc}") from exc

    compress: Transform
    if kwargs or level == 0:
        # Level 0 (stored blocks) cuts its blocks by the size of the output buffer,
        # which zlib.compress() and compressobj() grow differently: only the latter
        # gives the reference's bytes.

        def compress(data: bytes) -> bytes:
            obj = zlib.compressobj(level, **kwargs)
            return obj.compress(data) + obj.flush()

    else:
        compress = _small_window_deflate(level)

    # Deflate expands at most 1032:1, so an input this small cannot exceed the
    # limit: decompress it in one C call (as fast as the bare zlib.decompress).
    one_call = 0 if "zdict" in dkwargs else limit // _DEFLATE_MAX_RATIO
    wbits = dkwargs.get("wbits", zlib.MAX_WBITS)

    def decompress(data: bytes) -> bytes:
        if len(data) <= one_call:
            try:
                return zlib.decompress(data, wbits)
            except zlib.error as exc:
                raise InvalidMessageError(f"cannot decompress gzip (zlib) payload: {exc}") from exc
        obj = zlib.decompressobj(**dkwargs)
        try:
            out = obj.decompress(data, limit)
        except zlib.error as exc:
            raise InvalidMessageError(f"cannot decompress gzip (zlib) payload: {exc}") from exc
        if obj.unconsumed_tail:
            raise _too_big(GZIP, limit)
        if not obj.eof:
            raise InvalidMessageError("cannot decompress gzip (zlib) payload: truncated stream")
        return out

    return Compression(GZIP, compress, decompress)


def _zstd_stream(dctx: zstandard.ZstdDecompressor, data: bytes, limit: int) -> bytes:
    """A frame without content size (e.g. streamed), decompressed in small steps so
    that the output cannot run far past ``limit``."""
    obj = dctx.decompressobj()
    parts = []
    total = 0
    for start in range(0, len(data), _ZSTD_STEP):
        part = obj.decompress(data[start : start + _ZSTD_STEP])
        total += len(part)
        if total > limit:
            raise _too_big(ZSTD, limit)
        parts.append(part)
    if not obj.eof:
        raise InvalidMessageError("cannot decompress zstd payload: truncated frame")
    return b"".join(parts)


def _zstd(level: int | None, params: Mapping[str, Any], writer: bool, limit: int) -> Compression:
    if level is None:
        level = _ZSTD_DEFAULT_LEVEL
    elif writer and level > zstandard.MAX_COMPRESSION_LEVEL:
        raise CompressionLevelError(
            f"compression.level: {level} is out of range for zstd "
            f"(at most {zstandard.MAX_COMPRESSION_LEVEL}; negative levels are allowed)"
        )

    def new_cctx() -> zstandard.ZstdCompressor:
        return zstandard.ZstdCompressor(level=level, write_content_size=True, **params)

    # A zstandard context must not be used by two threads at once: each call takes one
    # from a pool and puts it back (list pop and append are atomic, and cost an eighth
    # of the instructions of ``with lock``), making another when threads overlap. A
    # pool holds at most as many contexts as threads ever used it at once.
    try:
        cctxs = [new_cctx()]
    except (TypeError, ValueError, zstandard.ZstdError) as exc:
        raise InvalidArgumentError(f"compression.zstd: invalid arguments: {exc}") from exc
    dctxs = [zstandard.ZstdDecompressor()]
    content_size = zstandard.frame_content_size

    def compress(data: bytes) -> bytes:
        try:
            cctx = cctxs.pop()
        except IndexError:
            cctx = new_cctx()
        try:
            return cctx.compress(data)
        finally:
            cctxs.append(cctx)

    def decompress(data: bytes) -> bytes:
        try:
            size = content_size(data)
            if size > limit:
                raise _too_big(ZSTD, limit)
            try:
                dctx = dctxs.pop()
            except IndexError:
                dctx = zstandard.ZstdDecompressor()
            try:
                if size >= 0:
                    return dctx.decompress(data)
                return _zstd_stream(dctx, data, limit)
            finally:
                dctxs.append(dctx)
        except zstandard.ZstdError as exc:
            raise InvalidMessageError(f"cannot decompress zstd payload: {exc}") from exc

    return Compression(ZSTD, compress, decompress)


def resolve_compression(compression: Any, *, writer: bool) -> Compression:
    """Build the compression named by the ``compression`` parameter.

    ``writer`` selects whether ``level`` is checked (readers ignore it).
    Raises :class:`InvalidArgumentError` for an unknown algorithm or bad level.
    """
    if compression is None:
        compression = {}
    if not isinstance(compression, Mapping):
        raise InvalidArgumentError(
            f"compression: must be a mapping {{algorithm, level, ...}}, "
            f"got {type(compression).__name__}"
        )
    algorithm = compression.get("algorithm", GZIP)
    if not isinstance(algorithm, str) or not algorithm:
        raise InvalidArgumentError(
            f"compression.algorithm: must be a name such as gzip or zstd, got {algorithm!r}"
        )
    level = _level(compression)
    limit = compression.get("max_decompressed_bytes", MAX_DECOMPRESSED_BYTES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(
            f"compression.max_decompressed_bytes: {limit!r} must be a positive integer"
        )
    params = compression.get(algorithm) or {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(
            f"compression.{algorithm}: must be a mapping of codec arguments, "
            f"got {type(params).__name__}"
        )
    if algorithm in (GZIP, ZSTD):
        # Readers ignore the level of the built-ins (the format does not depend on it).
        build = _gzip if algorithm == GZIP else _zstd
        return build(level if writer else None, params, writer, limit)
    cls = registry("compression").get(algorithm, unknown=InvalidArgumentError)
    try:
        plugin = cls(level=level, params=params)
        compressor = plugin.compressor
        decompressor = plugin.decompressor
    except SinetError:
        raise
    except Exception as exc:
        raise InvalidArgumentError(
            f"compression {algorithm!r}: plugin {cls.__module__}.{cls.__qualname__} "
            f"rejected level={level!r} / compression.{algorithm}: {exc}"
        ) from exc
    if not callable(compressor) or not callable(decompressor):
        raise InvalidArgumentError(
            f"compression {algorithm!r}: plugin compressor/decompressor must be callables"
        )

    def bounded(data: bytes) -> bytes:
        out: bytes = decompressor(data)
        if len(out) > limit:
            raise _too_big(algorithm, limit)
        return out

    return Compression(algorithm, compressor, bounded)
