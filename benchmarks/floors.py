"""Floors: the least any CPython code can cost for the issue-17 cases that miss their target.

Each floor does only what the case cannot avoid, with nothing of ours:

* codec: the bare primitive inside one Python function that returns what the
  1.10 API must return: for ``decode`` a ``Message`` (the object built without
  ``__init__``, four attributes set), for ``encode`` the sealed or compressed
  bytes behind a constant header (one ``b"".join``). No header, Avro or size
  checks: a floor, not a decoder.
* gzip pipeline: a writer thread compresses and a reader thread decompresses,
  handed over through a ``queue.SimpleQueue`` (C code, no framing); beside it the
  single-thread bare round trip the target is a ratio of.
* v1.2 plugin: a writer thread ``put``s the payload on a ``queue.Queue`` and a
  reader thread ``get``s it with a timeout: the plugin's own structure, no core.
  Also the same plugin and floor on a ``queue.SimpleQueue``, whose ``put`` takes
  no Python-level lock: the Queue's one lock, taken by both threads once per
  message, makes them take turns (a lock convoy) once a GIL switch falls while
  one of them holds it.

Every round runs each floor, its baseline and ours once, side by side in this
one process; medians over rounds are printed and written into
``docs/performance.md`` as its ``floors`` section (``--no-docs``: print only).
A target above ``floor / baseline`` is out of reach of any implementation on
this interpreter and machine, within the run's noise (timed ratios move by up
to 0.15 between runs here). Usage: ``python benchmarks/floors.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import threading
import time
import timeit
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from queue import Queue, SimpleQueue
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import driver  # noqa: E402

driver.register_v12_plugin()  # before sinetstream is imported: it reads its entry points

import sinetstream  # noqa: E402
import v12_queue  # noqa: E402
from _raw import _primitive  # noqa: E402
from _sections import put_section  # noqa: E402
from run import CODECS, V12_TYPE  # noqa: E402
from sinetstream import Message  # noqa: E402
from sinetstream._workload import make_payload, perf_round  # noqa: E402

_new_object = object.__new__
_HEADER = bytes(16)  # as long as the v3 header + Avro prefix + timestamp of a message
PIPELINE_COUNT = 60_000


def _per_s(fn: Callable[[Any], Any], arg: Any, seconds: float) -> float:
    """Calls per second of ``fn(arg)``: the best of 5 runs of about ``seconds / 5``."""
    timer = timeit.Timer(lambda: fn(arg))
    elapsed = timer.timeit(number=200)
    number = max(200, int(200 * seconds / 5 / max(elapsed, 1e-9)))
    return number / min(timer.repeat(number=number, repeat=5))


def codec_rows(codec: str, size: int, seconds: float) -> dict[str, dict[str, float]]:
    """msgs/s of bare, floor and ours, for encode and decode of one payload."""
    params = CODECS[codec]
    payload = make_payload(size, "text")
    bare_encode, bare_decode = _primitive(params)
    blob = bare_encode(payload)
    join = b"".join

    def floor_encode(value: bytes) -> bytes:
        return join((_HEADER, bare_encode(value)))

    def floor_decode(data: bytes) -> Message:
        message: Message = _new_object(Message)
        message._value = bare_decode(data)
        message._topic = None
        message._timestamp_us = 0
        message._raw = data
        return message

    with sinetstream.SINETStreamMessageEncoder(**params) as encoder:
        wire = encoder.encode(payload)
        ours_encode = encoder.encode
        with sinetstream.SINETStreamMessageDecoder(**params) as decoder:
            if decoder.decode(wire).value != payload or floor_decode(blob).value != payload:
                raise RuntimeError(f"{codec}: a round trip changed the payload")
            return {
                "encode": {
                    "bare": _per_s(bare_encode, payload, seconds),
                    "floor": _per_s(floor_encode, payload, seconds),
                    "ours": _per_s(ours_encode, payload, seconds),
                },
                "decode": {
                    "bare": _per_s(bare_decode, blob, seconds),
                    "floor": _per_s(floor_decode, blob, seconds),
                    "ours": _per_s(decoder.decode, wire, seconds),
                },
            }


def two_threads(
    produce: Callable[[bytes], Any],
    consume: Callable[[Any], Any],
    payload: bytes,
    count: int,
    channel: Any,
) -> float:
    """msgs/s of a writer thread ``put``ting ``produce(payload)`` and a reader ``consume``-ing."""
    get = channel.get
    done = threading.Event()

    def read() -> None:
        for _ in range(count):
            consume(get(timeout=10))
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    put = channel.put
    start = time.perf_counter()
    for _ in range(count):
        put(produce(payload))
    if not done.wait(60):
        raise RuntimeError("the floor's reader did not finish")
    elapsed = time.perf_counter() - start
    reader.join()
    return count / elapsed


def _params(backend: str, codec: str) -> dict[str, Any]:
    params = {"no_config": True, "type": backend, "consistency": "AT_LEAST_ONCE", **CODECS[codec]}
    if backend == "queue":
        params["type_spec"] = {"maxsize": 10 * PIPELINE_COUNT}  # room for the serial run
    return params


def _switches() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def ours_pipeline(backend: str, codec: str, payload: bytes, count: int) -> tuple[float, float]:
    """Our writer and reader in two threads (the bench's perf round): the reader's msgs/s,
    and the voluntary context switches per message (a thread waiting for the GIL or a lock)."""
    topic = f"floors-{uuid.uuid4().hex[:8]}"
    common = _params(backend, codec)
    before = _switches()
    result = perf_round(
        sinetstream,
        {**common, "topic": topic},
        {**common, "topics": topic, "receive_timeout_ms": 2000},
        payload,
        count=count,
    )
    return result.reader.count / result.reader.seconds, (_switches() - before) / count


def on_one_core(fn: Callable[[], Any]) -> Any:
    """``fn()`` with this thread, and the threads it starts, on one CPU (Linux only)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, cpus)


def ours_serial(backend: str, codec: str, payload: bytes, count: int) -> float:
    """msgs/s of our writer publishing ``count`` messages, then our reader reading them,
    in one thread: the same work as the pipeline without a GIL hand-off."""
    topic = f"floors-{uuid.uuid4().hex[:8]}"
    common = _params(backend, codec)
    with sinetstream.MessageReader(**common, topics=topic, receive_timeout_ms=0) as reader:
        with sinetstream.MessageWriter(**common, topic=topic) as writer:
            publish = writer.publish
            start = time.perf_counter()
            for _ in range(count):
                publish(payload)
        n = sum(1 for _message in reader)  # each Message is decoded as it is read
        elapsed = time.perf_counter() - start
    if n != count:
        raise RuntimeError(f"serial {backend} {codec}: read {n} of {count}")
    return count / elapsed


def gzip_pipeline_rows() -> dict[str, Any]:
    payload = make_payload(1024, "text")
    compress, decompress = zlib.compress, zlib.decompress

    def round_trip(data: bytes) -> bytes:
        return decompress(compress(data))

    ours, switches = ours_pipeline("queue", "gzip", payload, PIPELINE_COUNT)
    pinned = on_one_core(lambda: ours_pipeline("queue", "gzip", payload, PIPELINE_COUNT))
    return {
        "pinned": pinned[0] if pinned else None,
        "bare": _per_s(round_trip, payload, 1.0),
        "floor": two_threads(compress, decompress, payload, PIPELINE_COUNT, SimpleQueue()),
        "ours": ours,
        "switches": switches,
        "serial": ours_serial("queue", "gzip", payload, PIPELINE_COUNT),
    }


def plugin_rows(channel: type[Any]) -> dict[str, Any]:
    """The v1.2 plugin with ``channel`` as its per-topic queue (``queue.Queue`` as written)."""
    payload = make_payload(1024, "random")

    def same(data: bytes) -> bytes:
        return data

    written = v12_queue.queues
    v12_queue.queues = defaultdict(channel)
    try:
        ours, switches = ours_pipeline(V12_TYPE, "plain", payload, 2 * PIPELINE_COUNT)
        pinned = on_one_core(lambda: ours_pipeline(V12_TYPE, "plain", payload, 2 * PIPELINE_COUNT))
        return {
            "pinned": pinned[0] if pinned else None,
            "floor": two_threads(same, same, payload, 2 * PIPELINE_COUNT, channel()),
            "ours": ours,
            "switches": switches,
            "serial": ours_serial(V12_TYPE, "plain", payload, 2 * PIPELINE_COUNT),
        }
    finally:
        v12_queue.queues = written


CODEC_CASES = [(c, s) for c in ("aes-gcm-256", "zstd", "gzip") for s in (100, 1024)]


def run(rounds: int, seconds: float) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for codec, size in CODEC_CASES:
            print(f"  codec {codec} {size} B", file=sys.stderr, flush=True)
            results.setdefault(f"{codec}|{size}", []).append(codec_rows(codec, size, seconds))
        print("  gzip pipeline", file=sys.stderr, flush=True)
        results.setdefault("gzip-pipeline", []).append(gzip_pipeline_rows())
        print("  v1.2 plugin pipeline", file=sys.stderr, flush=True)
        results.setdefault("plugin", []).append(plugin_rows(Queue))
        print("  v1.2 plugin pipeline on a SimpleQueue", file=sys.stderr, flush=True)
        results.setdefault("plugin-simple", []).append(plugin_rows(SimpleQueue))
    return results


def _pinned(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):,.0f}" if known else "- (no sched_setaffinity)"


def report(results: dict[str, list[dict[str, Any]]], rounds: int, elapsed: float) -> str:
    lines = [
        "<!-- floors: written by benchmarks/floors.py -->",
        "## Floors of the issue-17 cases",
        "",
        f"`python benchmarks/floors.py --rounds {rounds}`, run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"Python {platform.python_version()}, in {elapsed:.0f} s; medians over the rounds. "
        "The floor does only what the case cannot avoid (see the module's docstring); "
        "`floor / bare` is the most any implementation can reach on this interpreter.",
        "",
        "### Codec (ours and floor as a ratio of the bare primitive)",
        "",
        "| case | size | bare msgs/s | floor / bare | ours / bare | ours / floor |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for codec, size in CODEC_CASES:
        runs = results[f"{codec}|{size}"]
        for direction in ("encode", "decode"):
            bare = statistics.median([r[direction]["bare"] for r in runs])
            floor = statistics.median([r[direction]["floor"] / r[direction]["bare"] for r in runs])
            ours = statistics.median([r[direction]["ours"] / r[direction]["bare"] for r in runs])
            mine = statistics.median([r[direction]["ours"] / r[direction]["floor"] for r in runs])
            label = f"{codec} {direction}"
            lines.append(
                f"| {label} | {size} B | {bare:,.0f} | {floor:.2f} | {ours:.2f} | {mine:.2f} |"
            )
    lines += [
        "",
        "### Two threads in one process, 1 KiB",
        "",
        "Ours in two threads (the bench's perf round), the same with both threads on one CPU "
        "(`os.sched_setaffinity`), and in one thread (publish all, then read all: the same work "
        "without a hand-off of the GIL); switches: voluntary context switches per message of "
        "ours in two threads, each a thread that waits for the GIL or a lock and is woken, "
        "often on the other CPU.",
        "",
        "| case | baseline msgs/s | floor msgs/s | ours, two threads | ours, two threads on "
        "one CPU | ours, one thread | floor / baseline | ours / baseline | ours / floor | "
        "switches | ours, rounds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, runs in (
        ("gzip (baseline: the bare round trip in one thread)", results["gzip-pipeline"]),
        ("v1.2 plugin (`queue.Queue`), plain (no baseline)", results["plugin"]),
        (
            "the same plugin on a `queue.SimpleQueue` (one line changed)",
            results["plugin-simple"],
        ),
    ):
        rates = [r["ours"] for r in runs]

        def ratio(top: str, bottom: str, runs: list[dict[str, Any]] = runs) -> str:
            if bottom not in runs[0]:
                return "-"
            return f"{statistics.median([r[top] / r[bottom] for r in runs]):.2f}"

        base = f"{statistics.median([r['bare'] for r in runs]):,.0f}" if "bare" in runs[0] else "-"
        cells = [
            name,
            base,
            f"{statistics.median([r['floor'] for r in runs]):,.0f}",
            f"{statistics.median(rates):,.0f}",
            _pinned([r["pinned"] for r in runs]),
            f"{statistics.median([r['serial'] for r in runs]):,.0f}",
            ratio("floor", "bare"),
            ratio("ours", "bare"),
            ratio("ours", "floor"),
            f"{statistics.median([r['switches'] for r in runs]):.2f}",
            " ".join(f"{v / 1000:.0f}k" for v in rates),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("<!-- /floors -->")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="per codec measurement")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    started = time.monotonic()
    results = run(args.rounds, args.seconds)
    text = report(results, args.rounds, time.monotonic() - started)
    print(text)
    if not args.no_docs:
        put_section(HERE.parent / "docs" / "performance.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
