"""Workloads shared by ``sinetstream perf`` and the benchmark runner.

Every function takes the public API as a module argument (``api``) and uses
only what SINETStream 1.10 also offers (the four reader/writer classes, the
standalone codec, ``metrics`` and ``reset_metrics``). The benchmark runner
therefore runs this very package against the reference implementation too,
loading it by path in the reference's virtual environment: its modules import
nothing but the standard library and each other, relatively.

- :mod:`.measure`: percentiles, :class:`Measurement`, ``Metrics`` fields, payloads;
- :mod:`.loops`: the timed codec, writer and reader loops;
- :mod:`.perf`: the reference perftool's round, writer and reader at once.
"""

from __future__ import annotations

from .loops import (
    codec_decode,
    codec_encode,
    read_messages,
    write_messages,
    write_messages_on,
)
from .measure import METRICS_FIELDS, Measurement, make_payload, metrics_dict, percentile
from .perf import PerfRound, perf_round

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
