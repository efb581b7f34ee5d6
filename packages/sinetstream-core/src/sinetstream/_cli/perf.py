"""``sinetstream perf``: writer and reader throughput, as the reference perftool measures it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from .output import Live, perf_table, rate_since
from .params import Subparsers, round_trip
from .status import EXIT_OK, Incomplete, UsageError


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``perf`` and its options."""
    p = sub.add_parser(
        "perf",
        parents=[common],
        help="measure writer and reader throughput (the reference perftool's job)",
        description=(
            "Publish N messages while a reader receives them; report both sides' metrics. "
            "With no config file at all it runs on the embedded queue backend."
        ),
    )
    p.add_argument("-n", "--num-samples", type=int, default=1000, help="messages per round")
    p.add_argument("-p", "--payload-size", type=int, default=1024, help="payload bytes")
    p.add_argument("-a", "--async-api", action="store_true", help="use the async reader/writer")
    p.add_argument("-R", "--rounds", "--output-count", type=int, default=1, dest="rounds")
    p.add_argument(
        "-f",
        "--format",
        choices=["table", "json", "tsv"],
        default="table",
        help="output format (json/tsv: one record per round, as the perftool)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long the reader may lag behind the writer",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``--rounds`` perftool rounds, print each; 3 if the reader missed messages."""
    import sinetstream
    from sinetstream import _workload

    if args.num_samples < 1 or args.payload_size < 0 or args.rounds < 1:
        raise UsageError("--num-samples and --rounds must be >= 1, --payload-size >= 0")
    # Random bytes, as the reference perftool sends, whatever the service's value type.
    params = round_trip(args, "sinetstream-perf", "byte_array")
    payload = _workload.make_payload(args.payload_size)
    live = Live(not args.quiet)
    out = sys.stdout
    incomplete = False
    for round_no in range(1, args.rounds + 1):
        started = time.monotonic()
        prefix = f"round {round_no}/{args.rounds}: " if args.rounds > 1 else ""

        def progress(
            written: int, received: int, prefix: str = prefix, t0: float = started
        ) -> None:
            live.show(
                f"{prefix}written {written:,}/{args.num_samples:,}, read {received:,} "
                f"({rate_since(received, t0):,.0f} msg/s)"
            )

        try:
            result = _workload.perf_round(
                sinetstream,
                params.writer,
                params.reader,
                payload,
                count=args.num_samples,
                async_api=args.async_api,
                timeout=args.timeout,
                progress=progress,
            )
        finally:
            live.clear()
        w, r = result.writer_metrics, result.reader_metrics
        if (r.get("msg_count_total") or 0) < args.num_samples:
            incomplete = True
        if args.format == "json":
            out.write(json.dumps({"writer": w, "reader": r}) + "\n")
        elif args.format == "tsv":
            _write_tsv(out, w, r, header=round_no == 1)
        else:
            api = "async" if args.async_api else "sync"
            head = [
                f"{prefix}{args.num_samples:,} messages of {args.payload_size:,} bytes, "
                f"{api} API, {params.label}" + (f", topic {params.topic}" if params.topic else ""),
                f"steady rate (first to last message): writer {result.writer.msgs_per_s:,.0f} "
                f"msg/s, reader {result.reader.msgs_per_s:,.0f} msg/s",
                "",
            ]
            if round_no > 1:
                out.write("\n")
            out.write(perf_table(w, r, head) + "\n")
        out.flush()
    if incomplete:
        raise Incomplete("the reader received fewer messages than were written")
    return EXIT_OK


def _write_tsv(out: TextIO, w: dict[str, Any], r: dict[str, Any], *, header: bool) -> None:
    """One round as a tab-separated line of both sides' metrics, after the header if asked."""
    if header:
        out.write("\t".join([f"writer_{k}" for k in w] + [f"reader_{k}" for k in r]) + "\n")
    out.write("\t".join("" if v is None else str(v) for v in [*w.values(), *r.values()]))
    out.write("\n")
