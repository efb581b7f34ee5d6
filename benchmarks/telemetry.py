"""The cost of OpenTelemetry instrumentation on the queue backend at 1 KiB.

    python benchmarks/telemetry.py [--count 30000] [--rounds 5] [--base REV] [--docs docs]

Four variants, each in a fresh process, interleaved round by round (the order
rotated) so machine drift hits all alike:

* ``base``: the code of ``REV`` (default: the merge base with ``main``),
  unpacked with ``git archive`` into ``.bench/telemetry-base`` and put first on
  ``PYTHONPATH``: the library before instrumentation existed;
* ``off``: this tree, ``SinetstreamInstrumentor`` never called (what every user
  not asking for telemetry runs);
* ``on, no-op SDK``: instrumented with the SDK's providers while
  ``OTEL_SDK_DISABLED=true`` (they hand out no-op tracers and meters, so
  ``instrument()`` wraps nothing);
* ``on, telemetry: false``: instrumented with the SDK's providers, the service
  says ``telemetry: false``: the wrappers run and find the service switched off
  (what the wrapping itself costs);
* ``on, SDK``: instrumented with the SDK's providers, no exporter and no metric
  reader: spans and metric points are built, then dropped.

Each process writes ``count`` messages with a sync ``MessageWriter`` and then
reads them with a ``MessageReader``, on one thread; the rates are per CPU
second of the process (``time.process_time``), which other load on a shared
machine disturbs far less than wall-clock time. The results go into the "Telemetry"
section of docs/performance.md (between markers ``nox -s bench`` keeps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _sections import put_section  # noqa: E402

BEGIN, END = "<!-- telemetry: benchmarks/telemetry.py -->", "<!-- /telemetry -->"
VARIANTS = ("base", "off", "noop", "wrapped", "sdk")
LABELS = {
    "base": "before instrumentation existed",
    "off": "instrumentation off",
    "noop": "on, no-op SDK (OTEL_SDK_DISABLED=true)",
    "wrapped": "on, SDK providers, service telemetry: false",
    "sdk": "on, SDK providers, no exporter",
}
SIZE = 1024


def _worker(variant: str, count: int) -> dict[str, float]:
    """Runs in the child: instrument as ``variant`` says, write then read ``count`` messages."""
    if variant in ("noop", "wrapped", "sdk"):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from sinetstream.instrumentation import SinetstreamInstrumentor

        # "noop": the parent set OTEL_SDK_DISABLED=true, which the providers read.
        tracer, meter = TracerProvider(), MeterProvider()
        SinetstreamInstrumentor().instrument(tracer_provider=tracer, meter_provider=meter)
    from sinetstream import MessageReader, MessageWriter

    params = {
        "type": "queue",
        "brokers": f"bench-{os.getpid()}",
        "no_config": True,
        "type_spec": {"maxsize": count + 1000},
        "telemetry": variant != "wrapped",
    }
    if variant == "base":
        del params["telemetry"]  # unknown there: a queue parameter of a version 1 config
    payload = os.urandom(SIZE)
    with MessageWriter(None, "warm", **params) as writer:
        for _ in range(2000):
            writer.publish(payload)
    with MessageWriter(None, "bench", **params) as writer:
        publish = writer.publish
        start = time.process_time()
        for _ in range(count):
            publish(payload)
        write_s = time.process_time() - start
    with MessageReader(None, "bench", receive_timeout_ms=0, **params) as reader:
        start = time.process_time()
        got = sum(1 for _ in reader)
        read_s = time.process_time() - start
    assert got == count, (got, count)
    return {"write": count / write_s, "read": count / read_s}


def _base_tree(rev: str) -> Path:
    """``rev``'s packages unpacked under .bench/telemetry-base (once per revision)."""
    sha = subprocess.run(
        ["git", "rev-parse", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    dest = ROOT / ".bench" / "telemetry-base" / sha[:12]
    if not dest.exists():
        archive = subprocess.run(
            ["git", "archive", sha, "packages"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest


def _run(variant: str, count: int, base: Path) -> dict[str, float]:
    env = dict(os.environ)
    env["OTEL_SDK_DISABLED"] = "true" if variant == "noop" else "false"
    if variant == "base":
        srcs = [str(p) for p in sorted((base / "packages").glob("*/src"))]
        env["PYTHONPATH"] = os.pathsep.join([*srcs, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, __file__, "--worker", variant, "--count", str(count)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def _combined(result: dict[str, float]) -> float:
    # Messages per CPU second over the whole write-then-read run.
    return 1.0 / (1.0 / result["write"] + 1.0 / result["read"])


#: (ratio, numerator, denominator, target or None) of the second table.
_RATIOS = (
    ("#18: off / base", "off", "base", 0.98),
    ("#18: on with a no-op SDK / off", "noop", "off", 0.85),
    ("on, service with telemetry: false / off", "wrapped", "off", None),
    ("on with SDK providers, no exporter / off", "sdk", "off", None),
)


def _section(runs: dict[str, list[dict[str, float]]], args: Any) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        BEGIN,
        "## Telemetry (OpenTelemetry instrumentation, queue backend, 1 KiB)",
        "",
        f"`python benchmarks/telemetry.py`: {args.count:,} messages written by a sync writer, "
        f"then read, per CPU second of the process, {args.rounds} rounds, each variant in its "
        f"own process, measured {when} on {os.cpu_count()} CPUs (Python "
        f"{platform.python_version()}). `base` is the code of `{args.base}`, before "
        "instrumentation existed. The machine is shared: the medians move by tens of percent "
        "from run to run, so the verdict is on the best round of each variant (as `timeit` "
        "advises: noise only ever slows a run down).",
        "",
        "| variant | writer msgs/s (median) | reader msgs/s (median) | both, best round |",
        "|---|---|---|---|",
    ]
    best = {v: max(_combined(x) for x in runs[v]) for v in VARIANTS}
    for v in VARIANTS:
        write = statistics.median(x["write"] for x in runs[v])
        read = statistics.median(x["read"] for x in runs[v])
        lines.append(f"| {LABELS[v]} | {write:,.0f} | {read:,.0f} | {best[v]:,.0f} |")
    lines += [
        "",
        "| ratio (writer and reader together) | best rounds | median of the rounds' ratios "
        "| target | verdict |",
        "|---|---|---|---|---|",
    ]
    for label, top, bottom, target in _RATIOS:
        ratio = best[top] / best[bottom]
        each = statistics.median(
            _combined(a) / _combined(b) for a, b in zip(runs[top], runs[bottom], strict=True)
        )
        verdict = "—" if target is None else ("pass" if ratio >= target else "FAIL")
        goal = "(shown)" if target is None else f"≥ {target}"
        lines.append(f"| {label} | {ratio:.3f} | {each:.3f} | {goal} | {verdict} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", default="", help="the revision before instrumentation")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.count)))
        return 0
    if not args.base:
        args.base = subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True, capture_output=True,
            text=True,
        ).stdout.strip()[:12]  # fmt: skip
    base = _base_tree(args.base)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for r in range(args.rounds + 1):  # round 0 warms the disk cache and is dropped
        order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
        got = {v: _run(v, args.count, base) for v in order}
        print(f"round {r}: " + ", ".join(f"{v} {_combined(got[v]):,.0f}/s" for v in VARIANTS))
        if r:
            for v in VARIANTS:
                runs[v].append(got[v])
    section = _section(runs, args)
    print(section)
    if not args.no_docs:
        put_section(args.docs / "performance.md", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
