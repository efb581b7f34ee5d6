"""Payload compression: built-in ``gzip`` (a zlib stream) and ``zstd``, plus plugins.

Byte-compatible with SINETStream 1.10: ``gzip`` is really a zlib stream
(RFC 1950, ``78 9C`` at the default level), made as by
``zlib.compressobj(level, **compression["gzip"])``; ``zstd`` writes frames with
the content size and reads frames with or without it. Other algorithm names
are looked up in the ``sinetstream.compression`` entry-point group and
constructed as ``cls(level=..., params=compression.get(name) or {})``.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import zstandard

from ._registry import registry
from .error import InvalidArgumentError, InvalidMessageError, SinetError

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


def _gzip(level: int | None, params: Mapping[str, Any], writer: bool) -> Compression:
    if level is None:
        level = _GZIP_DEFAULT_LEVEL
    elif writer and level not in _GZIP_LEVELS:
        raise InvalidArgumentError(f"compression.level: {level} is out of range for gzip (-1..9)")
    kwargs = dict(params)
    try:
        # Validate the extra keyword arguments once, at construction.
        zlib.compressobj(level, **kwargs)
        dkwargs = {k: kwargs[k] for k in _ZLIB_DECOMPRESS_KEYS if k in kwargs}
        zlib.decompressobj(**dkwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"compression.gzip: invalid zlib arguments: {exc}") from exc

    def compress(data: bytes) -> bytes:
        obj = zlib.compressobj(level, **kwargs)
        return obj.compress(data) + obj.flush()

    if writer and not kwargs:
        # Same bytes without re-initialising zlib for every message (when possible).
        fast = _ResettableDeflate.create(level)
        if fast is not None:
            compress = fast.compress

    def decompress(data: bytes) -> bytes:
        obj = zlib.decompressobj(**dkwargs)
        try:
            out = obj.decompress(data)
        except zlib.error as exc:
            raise InvalidMessageError(f"cannot decompress gzip (zlib) payload: {exc}") from exc
        if not obj.eof:
            raise InvalidMessageError("cannot decompress gzip (zlib) payload: truncated stream")
        return out

    if not dkwargs:
        zdecompress = zlib.decompress

        def decompress(data: bytes) -> bytes:  # one call; truncation is a zlib.error here
            try:
                return zdecompress(data)
            except zlib.error as exc:
                raise InvalidMessageError(f"cannot decompress gzip (zlib) payload: {exc}") from exc

    return Compression(GZIP, compress, decompress)


class _ZStream(ctypes.Structure):
    # zlib's z_stream (zlib.h); deflateInit2_ checks sizeof, so a mismatch is refused.
    _fields_ = (
        ("next_in", ctypes.c_char_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    )


_Z_OK = 0
_Z_STREAM_END = 1
_Z_FINISH = 4
_Z_DEFLATED = 8
_MAX_WBITS = 15
_DEF_MEM_LEVEL = 8
_Z_DEFAULT_STRATEGY = 0
# Above this, zlib set-up is negligible next to compressing; the kept output buffer stays small.
_FAST_LIMIT = 256 * 1024
_libz: tuple[Any, bytes] | None = None
_libz_checked = False
_libz_lock = threading.Lock()


def _load_libz() -> tuple[Any, bytes] | None:
    """The zlib that Python's zlib module runs on, through ctypes; ``None`` if unavailable."""
    global _libz, _libz_checked
    with _libz_lock:
        if _libz_checked:
            return _libz
        _libz_checked = True
        for name in ("libz.so.1", "libz.1.dylib", "libz.dylib"):
            try:
                lib: Any = ctypes.CDLL(name)
            except OSError:
                continue
            lib.zlibVersion.restype = ctypes.c_char_p
            version = lib.zlibVersion()
            # Only the very same zlib release is guaranteed to produce the same bytes.
            if version != zlib.ZLIB_RUNTIME_VERSION.encode():
                continue
            lib.deflateInit2_.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            lib.deflateReset.argtypes = [ctypes.c_void_p]
            lib.deflate.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.deflateEnd.argtypes = [ctypes.c_void_p]
            _libz = (lib, version)
            break
        return _libz


def _deflate_end(lib: Any, stream: _ZStream) -> None:
    lib.deflateEnd(ctypes.addressof(stream))


class _ResettableDeflate:
    """One zlib deflate state per writer, reset (not re-created) for each message.

    ``zlib.compressobj`` allocates and initialises about 256 KiB of state per
    call, which dominates the cost for small messages; ``deflateReset`` keeps
    it. Output is byte-identical (same library, same parameters, checked once).
    """

    __slots__ = ("__weakref__", "_addr", "_buf", "_cap", "_level", "_lib", "_lock", "_stream")

    def __init__(self, lib: Any, version: bytes, level: int) -> None:
        self._lib = lib
        self._level = level
        self._stream = _ZStream()
        self._addr = ctypes.addressof(self._stream)
        rc = lib.deflateInit2_(
            self._addr,
            level,
            _Z_DEFLATED,
            _MAX_WBITS,
            _DEF_MEM_LEVEL,
            _Z_DEFAULT_STRATEGY,
            version,
            ctypes.sizeof(_ZStream),
        )
        if rc != _Z_OK:
            raise OSError(f"deflateInit2_ returned {rc}")
        weakref.finalize(self, _deflate_end, lib, self._stream)
        self._cap = 0
        self._buf = ctypes.create_string_buffer(0)
        self._lock = threading.Lock()

    @classmethod
    def create(cls, level: int) -> _ResettableDeflate | None:
        """A deflater for ``level`` that passed a self-check, or ``None``."""
        loaded = _load_libz()
        if loaded is None:
            return None
        try:
            deflater = cls(*loaded, level)
            sample = b"SINETStream zlib self-check " * 40 + bytes(range(256))
            obj = zlib.compressobj(level)
            if deflater.compress(sample) != obj.compress(sample) + obj.flush():
                return None
        except OSError:
            return None
        return deflater

    def compress(self, data: bytes) -> bytes:
        """The zlib stream of ``data`` (as ``zlib.compressobj(level)`` would write it)."""
        n = len(data)
        if n >= _FAST_LIMIT:
            obj = zlib.compressobj(self._level)
            return obj.compress(data) + obj.flush()
        lib = self._lib
        stream = self._stream
        addr = self._addr
        # At least zlib's own conservative deflateBound(), computed without a C call.
        bound = n + (n >> 3) + (n >> 6) + 64
        with self._lock:
            lib.deflateReset(addr)
            if bound > self._cap:
                self._buf = ctypes.create_string_buffer(bound)
                self._cap = bound
            stream.next_in = data
            stream.avail_in = n
            stream.next_out = ctypes.addressof(self._buf)
            stream.avail_out = self._cap
            rc = lib.deflate(addr, _Z_FINISH)
            stream.next_in = None  # drop the reference to data
            if rc == _Z_STREAM_END:
                return ctypes.string_at(self._buf, stream.total_out)
        obj = zlib.compressobj(self._level)  # not expected; stay correct regardless
        return obj.compress(data) + obj.flush()


def _zstd(level: int | None, params: Mapping[str, Any], writer: bool) -> Compression:
    if level is None:
        level = _ZSTD_DEFAULT_LEVEL
    elif writer and level > zstandard.MAX_COMPRESSION_LEVEL:
        raise InvalidArgumentError(
            f"compression.level: {level} is out of range for zstd "
            f"(at most {zstandard.MAX_COMPRESSION_LEVEL}; negative levels are allowed)"
        )
    try:
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=True, **params)
    except (TypeError, ValueError, zstandard.ZstdError) as exc:
        raise InvalidArgumentError(f"compression.zstd: invalid arguments: {exc}") from exc
    dctx = zstandard.ZstdDecompressor()
    # zstandard contexts must not be used by two threads at once.
    clock = threading.Lock()
    dlock = threading.Lock()
    ccompress = cctx.compress

    def compress(data: bytes) -> bytes:
        with clock:
            return ccompress(data)

    def decompress(data: bytes) -> bytes:
        try:
            with dlock:
                if zstandard.frame_content_size(data) >= 0:
                    return dctx.decompress(data)
                # A frame without content size (e.g. streamed): decompress incrementally.
                obj = dctx.decompressobj()
                out = obj.decompress(data)
                if not obj.eof:
                    raise InvalidMessageError("cannot decompress zstd payload: truncated frame")
                return out
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
    params = compression.get(algorithm) or {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(
            f"compression.{algorithm}: must be a mapping of codec arguments, "
            f"got {type(params).__name__}"
        )
    if algorithm in (GZIP, ZSTD):
        # Readers ignore the level of the built-ins (the format does not depend on it).
        build = _gzip if algorithm == GZIP else _zstd
        return build(level if writer else None, params, writer)
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
    return Compression(algorithm, compressor, decompressor)
