"""``sinetstream write``: publish one message, a file, one message per line, or JSON lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .jsonl import read_entries
from .params import Subparsers, io_params, writer_params
from .publish import TEXT_SERVICE_HINT, Publisher, decode_text
from .status import EXIT_OK, note

_LINES_HINT = "-l sends text lines: leave it out to send binary data (all of stdin, one message)"
_TEXT_OPTION_HINT = "-t makes the value text: leave it out to send bytes"


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``write`` and its options."""
    p = sub.add_parser(
        "write",
        parents=[common],
        help="publish one message, a file, one message per input line, or JSON lines",
        description="Publish a message. Without -m/-f/-l/--json, all of stdin is one message.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("-m", "--message", help="publish this text")
    what.add_argument("-f", "--file", type=Path, help="publish the content of this file")
    what.add_argument("-l", "--line", action="store_true", help="one text message per stdin line")
    what.add_argument(
        "--json",
        action="store_true",
        help="one message per stdin JSON line, as read --json prints them (to each line's "
        "topic when neither --topic nor the service names one)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Publish what the options say; exit status 0."""
    from sinetstream import MessageWriter

    if args.json:
        return _write_json(args)
    kwargs = writer_params(io_params(args), args.topic)
    if args.message is not None or args.line:
        kwargs["value_type"] = "text"
    sent = 0
    with MessageWriter(**kwargs) as writer:
        if args.message is not None:
            writer.publish(args.message)
            sent = 1
        elif args.line:
            for number, line in enumerate(sys.stdin.buffer, 1):
                text = decode_text(line, f"standard input line {number}", _LINES_HINT)
                writer.publish(text.rstrip("\r\n"))
                sent += 1
        else:
            data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
            if writer.value_type == "text":
                source = str(args.file) if args.file else "standard input"
                hint = _TEXT_OPTION_HINT if args.text else TEXT_SERVICE_HINT
                writer.publish(decode_text(data, source, hint))
            else:
                writer.publish(data)
            sent = 1
    if args.verbose:
        note(f"published {sent} message(s) to {writer.topic}")
    return EXIT_OK


def _write_json(args: argparse.Namespace) -> int:
    with Publisher(io_params(args), args.topic) as publisher:
        try:
            for entry in read_entries(sys.stdin.buffer, "stdin"):
                publisher.publish(entry)
        finally:
            if args.verbose:
                note(f"published {publisher.sent} message(s)")
    return EXIT_OK
