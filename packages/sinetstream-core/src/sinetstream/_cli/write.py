"""``sinetstream write``: publish one message, a file, or one message per input line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .params import Subparsers, io_params, writer_params
from .status import EXIT_OK, note


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``write`` and its options."""
    p = sub.add_parser(
        "write",
        parents=[common],
        help="publish one message, a file, or one message per input line",
        description="Publish a message. Without -m/-f/-l, all of stdin is one message.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("-m", "--message", help="publish this text")
    what.add_argument("-f", "--file", type=Path, help="publish the content of this file")
    what.add_argument("-l", "--line", action="store_true", help="one text message per stdin line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Publish what the options say; exit status 0."""
    from sinetstream import MessageWriter

    kwargs = writer_params(io_params(args), args.topic)
    if args.message is not None or args.line:
        kwargs["value_type"] = "text"
    text = kwargs.get("value_type") == "text"
    sent = 0
    with MessageWriter(**kwargs) as writer:
        if args.message is not None:
            writer.publish(args.message)
            sent = 1
        elif args.line:
            for line in sys.stdin:
                writer.publish(line.rstrip("\r\n"))
                sent += 1
        else:
            data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
            writer.publish(data.decode("utf-8") if text else data)
            sent = 1
    if args.verbose:
        note(f"published {sent} message(s) to {writer.topic}")
    return EXIT_OK
