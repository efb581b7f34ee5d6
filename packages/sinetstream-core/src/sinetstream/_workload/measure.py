"""What a workload measures: percentiles, :class:`Measurement`, ``Metrics`` fields, payloads."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
