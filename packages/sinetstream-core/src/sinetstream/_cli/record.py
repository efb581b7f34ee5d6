"""``sinetstream record``: save a stream to a JSON-lines file, one flushed line a message.

The file is a header line (what was recorded, never a key or password) and
then ``read --json``'s lines. Each line is written and flushed whole, so a
recorder that is killed loses at most the line it was writing. An encrypted
service is recorded as the messages travelled (``wire_b64``), unless
``--decrypted`` asks for the values.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from .jsonl import RECORDING_KEY, RECORDING_VERSION, dumps, message_line, now_us, rfc3339
from .output import Live, rate_since
from .params import WIRE_PARAMS, Subparsers, io_params, reader_params, topics_label
from .status import EXIT_OK, Incomplete, UsageError, note

if TYPE_CHECKING:
    from sinetstream import MessageReader


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``record`` and its options."""
    p = sub.add_parser(
        "record",
        parents=[common],
        help="save a stream to a JSON-lines file, for replay",
        description="Save every message (value, topic, timestamps) to a JSON-lines file "
        "until Ctrl-C, --count or --timeout. Encrypted services are saved still "
        "encrypted unless --decrypted.",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the recording ('-': stdout)"
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument(
        "--decrypted",
        action="store_true",
        help="save an encrypted service's decrypted values (default: its messages as they "
        "travelled, which replay forwards without the key)",
    )
    p.add_argument("-C", "--count", type=int, help="stop after COUNT messages")
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop after SECONDS without a message"
    )
    p.set_defaults(run=run)


def recording_header(reader: MessageReader, *, wire: bool) -> dict[str, Any]:
    """The first line of a recording of ``reader``'s service: no key, no password."""
    from sinetstream import __version__

    topics = reader.topics
    started = now_us()
    return {
        RECORDING_KEY: RECORDING_VERSION,
        "tool": f"sinetstream {__version__}",
        "service": reader.service,
        "type": reader.params.get("type"),
        "topics": [topics] if isinstance(topics, str) else list(topics or []),
        "value_type": reader.value_type,
        "encrypted": bool(reader.params.get("data_encryption")),
        "payload": "wire_b64" if wire else "value",
        "started": rfc3339(started),
        "started_us": started,
    }


def _open_reader(args: argparse.Namespace) -> tuple[MessageReader, dict[str, Any], bool]:
    """The reader (built, not open), the header, whether it hands over whole messages."""
    from sinetstream import MessageReader

    kwargs = reader_params(io_params(args), args.topic)
    if args.timeout is not None:
        kwargs["receive_timeout_ms"] = args.timeout * 1000
    reader = MessageReader(**kwargs)
    wire = bool(reader.params.get("data_encryption")) and not args.decrypted
    header = recording_header(reader, wire=wire)
    if wire:
        reader.close()
        reader = MessageReader(**{**kwargs, **WIRE_PARAMS})
    return reader, header, wire


def _output(path: str, force: bool) -> IO[bytes]:
    if path == "-":
        return sys.stdout.buffer
    try:
        return open(path, "wb" if force else "xb")  # closed by run()
    except FileExistsError:
        raise UsageError(f"{path} exists: give another name, or --force to overwrite it") from None


def run(args: argparse.Namespace) -> int:
    """Record until ``--count``, ``--timeout`` or Ctrl-C (a normal end: status 0)."""
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    reader, header, wire = _open_reader(args)
    n = 0
    stopped = False
    start = time.monotonic()
    live = Live(not args.quiet and not (args.output == "-" and sys.stdout.isatty()))
    with reader:
        out = _output(args.output, args.force)
        try:
            out.write(dumps(header).encode())
            out.flush()
            if not args.quiet:
                note(f"recording {topics_label(reader.topics)} to {args.output} (Ctrl-C: stop)")
            for message in reader:
                # One write and one flush a line: a killed recorder leaves whole lines.
                out.write(dumps(message_line(message, now_us(), wire=wire)).encode())
                out.flush()
                n += 1
                live.show(f"{n} messages, {rate_since(n, start):,.0f} msg/s")
                if args.count is not None and n >= args.count:
                    break
        except KeyboardInterrupt:
            stopped = True  # Ctrl-C is how a recording usually ends
        finally:
            live.clear()
            if out is not sys.stdout.buffer:
                out.close()
    what = "messages as they travelled (encrypted)" if wire else "messages"
    note(f"recorded {n} {what} in {time.monotonic() - start:.1f} s to {args.output}")
    if args.count is not None and n < args.count and not stopped:
        raise Incomplete(f"recorded {n} of {args.count} messages before the timeout")
    return EXIT_OK
