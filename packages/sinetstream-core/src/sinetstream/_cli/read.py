"""``sinetstream read``: receive messages; print them (text, JSON, a template) or save them."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from .jsonl import check_template, dumps, format_line, message_line, now_us
from .output import Live, print_message, rate_since, value_bytes
from .params import Subparsers, io_params, reader_params, topics_label
from .status import EXIT_OK, Incomplete, UsageError, note


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``read`` and its options."""
    p = sub.add_parser(
        "read",
        parents=[common],
        help="receive messages and print or save them",
        description="Receive messages; print them, or save each one to a file in a directory.",
    )
    p.add_argument("-C", "--count", type=int, help="stop after COUNT messages")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop after SECONDS without a message (default: wait forever)",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("-r", "--raw", action="store_true", help="print the payload only")
    how.add_argument("-f", "--file", type=Path, metavar="DIR", help="save each message in DIR")
    how.add_argument(
        "--json", action="store_true", help="print one JSON object per message (see docs/cli.md)"
    )
    how.add_argument(
        "--format",
        metavar="TEMPLATE",
        help="print each message with a template of the JSON fields: '{topic} {value}'",
    )
    p.add_argument(
        "-k", "--keep-going", action="store_true", help="skip undecodable messages (warn, go on)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Receive until ``--count`` messages, ``--timeout`` or Ctrl-C; 3 if too few came."""
    from sinetstream import MessageReader

    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.format is not None:
        check_template(args.format)
    kwargs = reader_params(io_params(args), args.topic)
    if args.timeout is not None:
        kwargs["receive_timeout_ms"] = args.timeout * 1000
    if args.keep_going:
        kwargs["on_invalid_message"] = "skip"
    save_dir: Path | None = args.file
    run_id = uuid.uuid4().hex[:8]
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
    # A live rate only makes sense when messages do not go to the same terminal.
    live = Live(not args.quiet and (save_dir is not None or not sys.stdout.isatty()))
    out = sys.stdout.buffer
    n = 0
    start = time.monotonic()
    try:
        with MessageReader(**kwargs) as reader:
            if args.verbose:
                note(f"reading {topics_label(reader.topics)}")
            for message in reader:
                n += 1
                if save_dir is not None:
                    topic = quote(message.topic or "none", safe="")
                    data = value_bytes(message.value)
                    (save_dir / f"{topic}-{run_id}-{n:06d}").write_bytes(data)
                elif args.json or args.format is not None:
                    line = message_line(message, now_us())
                    text = dumps(line) if args.json else format_line(args.format, line) + "\n"
                    out.write(text.encode("utf-8"))
                    out.flush()
                else:
                    print_message(n, message, args.raw, out)
                live.show(f"{n} messages, {rate_since(n, start):,.0f} msg/s")
                if args.count is not None and n >= args.count:
                    break
    finally:
        live.clear()
    if args.verbose:
        note(f"received {n} message(s)")
    if args.count is not None and n < args.count:
        raise Incomplete(f"received {n} of {args.count} messages before the timeout")
    return EXIT_OK
