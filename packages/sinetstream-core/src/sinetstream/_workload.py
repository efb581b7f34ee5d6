"""Workloads shared by ``sinetstream perf`` and the benchmark runner.

Every function takes the public API as a module argument (``api``) and uses
only what SINETStream 1.10 also offers (the four reader/writer classes, the
standalone codec, ``metrics`` and ``reset_metrics``). The benchmark runner
therefore runs this very file against the reference implementation too, loading
it by path in the reference's virtual environment: this module must import
nothing but the standard library.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "METRICS_FIELDS",
    "Measurement",
    "PerfRound",
    "codec_decode",
    "codec_encode",
    "make_payload",
    "metrics_dict",
    "percentile",
    "perf_round",
    "read_messages",
    "write_messages",
    "write_messages_on",
]

#: The metrics fields reported by ``sinetstream perf``: the reference perftool's
#: fields plus the compression counters of SINETStream 1.10's ``Metrics``.
METRICS_FIELDS: tuple[str, ...] = (
    "start_time",
    "start_time_ms",
    "end_time",
    "end_time_ms",
    "time",
    "time_ms",
    "msg_count_total",
    "msg_count_rate",
    "msg_bytes_total",
    "msg_bytes_rate",
    "msg_size_min",
    "msg_size_max",
    "msg_size_avg",
    "msg_uncompressed_bytes_total",
    "msg_compressed_bytes_total",
    "msg_compression_ratio",
    "error_count_total",
    "error_count_rate",
)

_RATE_FIELDS = frozenset({"msg_count_rate", "msg_bytes_rate", "msg_size_avg", "error_count_rate"})

#: Called now and then with (messages written, messages read) during a run.
Progress = Callable[[int, int], None]

# How often the loops look at the clock and report progress (messages).
_CHECK_EVERY = 64
_PROGRESS_INTERVAL_S = 0.25


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of an already sorted sequence; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Measurement:
    """What one timed loop achieved: messages, payload bytes, seconds, latencies."""

    count: int
    nbytes: int
    seconds: float
    errors: int = 0
    #: Per-message latencies in seconds, when the workload measures them.
    latencies: list[float] = field(default_factory=list)

    @property
    def msgs_per_s(self) -> float:
        """Messages per second (0 when nothing was timed)."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        """Payload megabytes (10**6 bytes) per second."""
        return self.nbytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, latencies reduced to p50 and p99 in milliseconds."""
        out: dict[str, Any] = {
            "count": self.count,
            "bytes": self.nbytes,
            "seconds": self.seconds,
            "errors": self.errors,
            "msgs_per_s": self.msgs_per_s,
            "mb_per_s": self.mb_per_s,
        }
        if self.latencies:
            lat = sorted(self.latencies)
            out["p50_ms"] = percentile(lat, 50) * 1e3
            out["p99_ms"] = percentile(lat, 99) * 1e3
        return out


def make_payload(size: int, kind: str = "random") -> bytes:
    """A payload of ``size`` bytes.

    ``random`` is incompressible (as the reference perftool's); ``text`` is
    sensor-like JSON lines that compress about 4:1, closer to real traffic.
    """
    if size < 0:
        raise ValueError("payload size must be >= 0")
    if kind == "random":
        return os.urandom(size)
    if kind != "text":
        raise ValueError(f"unknown payload kind {kind!r} (random or text)")
    rnd = os.urandom(max(16, size // 8))
    parts: list[str] = []
    length = 0
    i = 0
    while length < size:
        b = rnd[i % len(rnd)]
        line = (
            f'{{"sensor":"node-{b % 16:02d}","seq":{i},"temp":{20 + b / 10:.1f},'
            f'"hum":{40 + (b >> 2)},"ok":true}}\n'
        )
        parts.append(line)
        length += len(line)
        i += 1
    return "".join(parts).encode("ascii")[:size]


def metrics_dict(metrics: Any) -> dict[str, Any]:
    """The :data:`METRICS_FIELDS` of a ``Metrics`` object as a dict.

    Rates and averages are 0 when no message was counted, as in the perftool;
    a field the implementation lacks is ``None``.
    """
    out: dict[str, Any] = {}
    count = getattr(metrics, "msg_count_total", 0) or 0
    for name in METRICS_FIELDS:
        value = getattr(metrics, name, None)
        if name in _RATE_FIELDS and count == 0:
            value = 0
        out[name] = value
    return out


def _timestamped(payload: bytes, size: int) -> Callable[[int], bytes]:
    """A function giving payload ``i``: the first 8 bytes carry ``i`` when room allows.

    Distinct payloads keep a broker or codec from benefiting from identical
    messages, at no per-message allocation beyond one bytes object.
    """
    if size < 8:
        return lambda _i: payload
    tail = payload[8:]
    return lambda i: i.to_bytes(8, "big") + tail


def _repeat(fn: Callable[[Any], Any], arg: Any, size: int, duration: float) -> Measurement:
    """Call ``fn(arg)`` in batches for ``duration`` seconds; ``size`` payload bytes each."""
    n = 0
    start = now = time.perf_counter()
    deadline = start + duration
    while now < deadline:
        for _ in range(_CHECK_EVERY):
            fn(arg)
        n += _CHECK_EVERY
        now = time.perf_counter()
    return Measurement(n, n * size, now - start)


def codec_encode(
    api: ModuleType, params: Mapping[str, Any], payload: bytes, *, duration: float
) -> Measurement:
    """Encode ``payload`` repeatedly with ``SINETStreamMessageEncoder`` for ``duration`` s."""
    with api.SINETStreamMessageEncoder(**params) as encoder:
        encode = encoder.encode
        for _ in range(8):
            encode(payload)
        return _repeat(encode, payload, len(payload), duration)


def codec_decode(
    api: ModuleType,
    params: Mapping[str, Any],
    payload: bytes,
    *,
    duration: float,
    writer_params: Mapping[str, Any] | None = None,
) -> Measurement:
    """Decode one encoded ``payload`` repeatedly with ``SINETStreamMessageDecoder``."""
    with api.SINETStreamMessageEncoder(**(writer_params or params)) as encoder:
        wire = encoder.encode(payload)
    with api.SINETStreamMessageDecoder(**params) as decoder:
        decode = decoder.decode
        if decode(wire).value != payload:
            raise RuntimeError("codec round trip changed the payload")
        return _repeat(decode, wire, len(payload), duration)


def write_messages(
    api: ModuleType,
    params: Mapping[str, Any],
    payload: bytes,
    *,
    count: int,
    duration: float = math.inf,
    async_api: bool = False,
    settle_timeout: float = 60.0,
    progress: Progress | None = None,
) -> Measurement:
    """Open a writer, publish up to ``count`` messages (or for ``duration`` s), time it."""
    cls = api.AsyncMessageWriter if async_api else api.MessageWriter
    with cls(**params) as writer:
        return write_messages_on(
            writer,
            payload,
            count=count,
            duration=duration,
            async_api=async_api,
            settle_timeout=settle_timeout,
            progress=progress,
        )


def read_messages(
    api: ModuleType,
    params: Mapping[str, Any],
    *,
    count: int,
    on_ready: Callable[[], None] | None = None,
    progress: Progress | None = None,
) -> Measurement:
    """Open a reader and time it until ``count`` messages arrived (or it times out idle).

    Timed from just before the reader is created to the last message: the
    time to drain a backlog from a fresh connection, so that an implementation
    that fills a buffer while ``open()`` is still running gains nothing.
    ``on_ready`` is called once the reader is open (subscribed).
    """
    n = 0
    nbytes = 0
    clock = time.perf_counter
    start = last = clock()
    with api.MessageReader(**params) as reader:
        if on_ready is not None:
            on_ready()
        next_report = clock() + _PROGRESS_INTERVAL_S
        for message in reader:
            last = clock()
            n += 1
            nbytes += len(message.value)
            if progress is not None and last >= next_report:
                progress(0, n)
                next_report = last + _PROGRESS_INTERVAL_S
            if n >= count:
                break
    if progress is not None:
        progress(0, n)
    return Measurement(n, nbytes, last - start if n else 0.0)


@dataclass
class PerfRound:
    """One perftool round: both sides' ``Metrics`` and the externally timed rates."""

    writer_metrics: dict[str, Any]
    reader_metrics: dict[str, Any]
    writer: Measurement
    reader: Measurement


def perf_round(
    api: ModuleType,
    writer_params: Mapping[str, Any],
    reader_params: Mapping[str, Any],
    payload: bytes,
    *,
    count: int,
    async_api: bool = False,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> PerfRound:
    """Write ``count`` messages while a reader receives them, as the reference perftool.

    The reader opens first (so a pub/sub backend delivers everything), both
    sides reset their metrics, the writer publishes; the round ends when the
    reader has ``count`` messages, or ``timeout`` seconds after the writer
    finished. Reader counts may be lower than writer counts (lossy QoS).
    """
    received = 0
    received_bytes = 0
    first_at = last_at = 0.0
    enough = threading.Event()
    lock = threading.Lock()
    clock = time.perf_counter

    def on_value(value: Any) -> None:
        nonlocal received, received_bytes, first_at, last_at
        with lock:
            now = clock()
            if received == 0:
                first_at = now
            last_at = now
            received += 1
            received_bytes += len(value)
            if received >= count:
                enough.set()

    reader_cls = api.AsyncMessageReader if async_api else api.MessageReader
    reader = reader_cls(**reader_params)
    reader_error: list[BaseException] = []
    stop_reading = threading.Event()

    def read_loop() -> None:
        try:
            while not stop_reading.is_set() and not enough.is_set():
                for message in reader:
                    on_value(message.value)
                    if enough.is_set() or stop_reading.is_set():
                        break
        except BaseException as exc:  # reported to the caller after join
            reader_error.append(exc)
            enough.set()

    writer_cls = api.AsyncMessageWriter if async_api else api.MessageWriter
    reader.open()
    thread: threading.Thread | None = None
    try:
        if async_api:
            reader.on_message = lambda message: on_value(message.value)
        else:
            thread = threading.Thread(target=read_loop, name="perf-reader", daemon=True)
        with writer_cls(**writer_params) as writer:
            reader.reset_metrics()
            writer.reset_metrics()
            if thread is not None:
                thread.start()

            def report(written: int, _read: int) -> None:
                if progress is not None:
                    progress(written, received)

            written = write_messages_on(
                writer, payload, count=count, async_api=async_api, progress=report
            )
            writer_metrics = metrics_dict(writer.metrics)
        deadline = clock() + timeout
        while not enough.wait(_PROGRESS_INTERVAL_S):
            if progress is not None:
                progress(written.count, received)
            if clock() >= deadline:
                break
        stop_reading.set()
        if progress is not None:
            progress(written.count, received)
        reader_metrics = metrics_dict(reader.metrics)
    finally:
        stop_reading.set()
        reader.close()
        if thread is not None and thread.is_alive():
            thread.join(timeout=10)
    if reader_error:
        raise reader_error[0]
    with lock:
        timed = max(received - 1, 0)
        read = Measurement(
            timed,
            received_bytes * timed // received if received else 0,
            last_at - first_at,
        )
    return PerfRound(writer_metrics, reader_metrics, written, read)


def write_messages_on(
    writer: Any,
    payload: bytes,
    *,
    count: int,
    async_api: bool,
    duration: float = math.inf,
    settle_timeout: float = 60.0,
    progress: Progress | None = None,
) -> Measurement:
    """Publish up to ``count`` messages (or for ``duration`` s) on an open writer.

    The sync writer records every ``publish`` call's latency. The async writer
    publishes without waiting and is timed until every promise has settled.
    """
    size = len(payload)
    value_of = _timestamped(payload, size)
    publish = writer.publish
    clock = time.perf_counter
    latencies: list[float] = []
    errors = 0
    n = 0
    start = clock()
    deadline = start + duration
    next_report = start + _PROGRESS_INTERVAL_S
    if async_api:
        promises: list[Any] = []
        append = promises.append
        while n < count:
            append(publish(value_of(n)))
            n += 1
            if n % _CHECK_EVERY == 0:
                now = clock()
                if now >= deadline:
                    break
                if progress is not None and now >= next_report:
                    progress(n, 0)
                    next_report = now + _PROGRESS_INTERVAL_S
        for promise in promises:
            try:
                promise.get(settle_timeout)
            except Exception:
                errors += 1
    else:
        record = latencies.append
        while n < count:
            t0 = clock()
            publish(value_of(n))
            t1 = clock()
            record(t1 - t0)
            n += 1
            if t1 >= deadline:
                break
            if progress is not None and t1 >= next_report:
                progress(n, 0)
                next_report = t1 + _PROGRESS_INTERVAL_S
    elapsed = clock() - start
    if progress is not None:
        progress(n, 0)
    return Measurement(n - errors, (n - errors) * size, elapsed, errors, latencies)
