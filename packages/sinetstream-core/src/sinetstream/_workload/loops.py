"""The timed loops: codec calls, a writer publishing, a reader draining a backlog."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .measure import Measurement

#: Called now and then with (messages written, messages read) during a run.
Progress = Callable[[int, int], None]

# How often the loops look at the clock and report progress (messages).
_CHECK_EVERY = 64
PROGRESS_INTERVAL_S = 0.25


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
        next_report = clock() + PROGRESS_INTERVAL_S
        for message in reader:
            last = clock()
            n += 1
            nbytes += len(message.value)
            if progress is not None and last >= next_report:
                progress(0, n)
                next_report = last + PROGRESS_INTERVAL_S
            if n >= count:
                break
    if progress is not None:
        progress(0, n)
    return Measurement(n, nbytes, last - start if n else 0.0)


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
    next_report = start + PROGRESS_INTERVAL_S
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
                    next_report = now + PROGRESS_INTERVAL_S
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
                next_report = t1 + PROGRESS_INTERVAL_S
    elapsed = clock() - start
    if progress is not None:
        progress(n, 0)
    return Measurement(n - errors, (n - errors) * size, elapsed, errors, latencies)
