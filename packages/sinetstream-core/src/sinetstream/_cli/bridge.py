"""``sinetstream bridge``: forward one service's messages to another, at least once."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Literal

from .params import Subparsers, parse_overrides
from .status import EXIT_OK, UsageError, note

if TYPE_CHECKING:
    from sinetstream import BridgeMetrics


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``bridge`` and its options."""
    p = sub.add_parser(
        "bridge",
        help="forward messages from one service to another, at least once",
        description=(
            "Forward every message of service FROM to service TO. A message is acknowledged "
            "on FROM only after TO acknowledged it, so outages and restarts lose nothing "
            "(duplicates are possible). SIGINT/SIGTERM: stop reading, drain, print a summary."
        ),
    )
    p.add_argument("--from", dest="source", required=True, metavar="SERVICE", help="source")
    p.add_argument("--to", dest="dest", required=True, metavar="SERVICE", help="destination")
    p.add_argument("--config-file", metavar="PATH", help="config file (default: the usual places)")
    p.add_argument("-c", "--config", metavar="NAME", help="config name on the config server")
    p.add_argument(
        "--topic-map",
        action="append",
        default=[],
        metavar="'SRC=>DST'",
        help="map source topics (MQTT wildcards + and #) to destination topics; repeatable; "
        "DST may use {1}.. (wildcard matches), {topic}, {key}",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--passthrough", action="store_true", help="forward the message bytes unchanged"
    )
    mode.add_argument(
        "--reencrypt",
        action="store_true",
        help="decode with FROM's settings, encode with TO's (e.g. another key)",
    )
    p.add_argument(
        "--max-in-flight", type=int, default=1000, metavar="N", help="unacknowledged messages"
    )
    p.add_argument(
        "--from-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter of FROM (dotted keys, YAML values)",
    )
    p.add_argument(
        "--to-param", action="append", default=[], metavar="KEY=VALUE", help="same for TO"
    )
    p.add_argument(
        "--progress",
        nargs="?",
        type=float,
        const=5.0,
        metavar="SECONDS",
        help="print the counters every SECONDS (default 5) on stderr",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after SECONDS")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    p.set_defaults(run=run)


def summary(m: BridgeMetrics) -> str:
    """One line of counters."""
    rate = m.forwarded / m.elapsed_s if m.elapsed_s > 0 else 0.0
    return (
        f"received {m.received}, forwarded {m.forwarded} ({rate:,.0f} msg/s), "
        f"acknowledged {m.acknowledged}, in flight {m.in_flight}, retried {m.retried}, "
        f"duplicates suspected {m.duplicates_suspected}, lag {m.lag_s:.1f} s"
    )


def run(args: argparse.Namespace) -> int:
    """Forward until SIGINT/SIGTERM or ``--duration``; then drain and print a summary."""
    from sinetstream import Bridge

    if args.max_in_flight < 1:
        raise UsageError("--max-in-flight must be at least 1")
    mode: Literal["auto", "passthrough", "reencrypt"] = (
        "passthrough" if args.passthrough else "reencrypt" if args.reencrypt else "auto"
    )
    kwargs: dict[str, Any] = {}
    if args.config_file:
        kwargs["config_file"] = args.config_file
    bridge = Bridge(
        args.source,
        args.dest,
        config=args.config,
        topic_map=args.topic_map or None,
        mode=mode,
        max_in_flight=args.max_in_flight,
        from_params=parse_overrides(args.from_param),
        to_params=parse_overrides(args.to_param),
        **kwargs,
    )
    if args.verbose:
        note(f"bridge {args.source} -> {args.dest} ({bridge.mode})")
    done = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        bridge.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    timer = threading.Timer(args.duration, bridge.stop) if args.duration else None
    reporter = None
    if args.progress:

        def report() -> None:
            while not done.wait(args.progress):
                note(summary(bridge.metrics))

        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()
    try:
        if timer is not None:
            timer.start()
        final = bridge.run()
    finally:
        done.set()
        if timer is not None:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stdout.write(f"bridge {args.source} -> {args.dest}: {summary(final)}\n")
    return EXIT_OK
