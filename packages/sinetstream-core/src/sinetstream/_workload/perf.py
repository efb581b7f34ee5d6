"""The reference perftool's round: a writer publishes while a reader receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .loops import PROGRESS_INTERVAL_S, Progress, write_messages_on
from .measure import Measurement, metrics_dict


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
        while not enough.wait(PROGRESS_INTERVAL_S):
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
