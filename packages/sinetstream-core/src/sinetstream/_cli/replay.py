"""``sinetstream replay``: publish a recording again, keeping the gaps between its messages.

The gaps come from the writer's timestamps (``timestamp_us``) when the first
message has one, else from the recorder's clock (``received_us``; encrypted
recordings have only that); ``--speed`` divides them. Progress on a terminal:
messages, elapsed time, how far behind schedule; a summary at the end.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from .jsonl import Entry, read_entries
from .output import Live, rate_since
from .params import Subparsers, io_params
from .publish import Publisher
from .status import EXIT_INTERRUPTED, EXIT_OK, PROG, UsageError

#: A ``KEY=VALUE`` override (a file named ``a=b`` is given as ``./a=b``).
_OVERRIDE = re.compile(r"[A-Za-z_][\w.-]*=")


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``replay`` and its options."""
    p = sub.add_parser(
        "replay",
        parents=[common],
        help="publish a recording again at the speed it happened",
        usage=f"{PROG} replay [options] [KEY=VALUE ...] FILE",
        description="Publish the messages of FILE, a recording or read --json lines ('-': "
        "stdin), with their recorded gaps, scaled by --speed. Whole SINETStream messages "
        "(wire_b64) are forwarded unchanged: an encrypted recording needs no key.",
    )
    p.add_argument(
        "--speed",
        default="1",
        help="how many times faster than recorded (0.5, 2, 10x), or max: no waiting (default 1)",
    )
    p.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    p.set_defaults(run=run)


def parse_speed(text: str) -> float | None:
    """``--speed``: a factor > 0 (``10`` or ``10x``), or None for ``max``."""
    if text.lower() == "max":
        return None
    try:
        speed = float(text.lower().removesuffix("x"))
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise UsageError(f"--speed {text!r}: give a factor > 0 (1, 2, 0.5, 10x) or max")
    return speed


@dataclass
class Schedule:
    """When each message is due: its recorded time, relative to the first, over ``speed``."""

    #: None: as fast as possible.
    speed: float | None
    #: The entry field the gaps are measured on (chosen at the first entry).
    clock: str = ""
    _origin_us: int = 0
    _origin: float = 0.0
    #: How late the latest message went out, and the worst so far (seconds).
    behind: float = 0.0
    max_behind: float = 0.0
    #: The recorded time from the first to the latest message (seconds, unscaled).
    span: float = 0.0
    #: ``time.monotonic()`` when the first message was due, and when the latest was.
    started: float = 0.0
    latest: float = 0.0
    #: Called now and then while waiting for a message (the progress display).
    tick: Callable[[], None] = lambda: None

    def restart(self) -> None:
        """The next entry starts a new pass: due at once, the origin of the following ones."""
        self._origin_us = 0

    def wait(self, entry: Entry) -> None:
        """Sleep until ``entry`` is due; note how late that leaves it."""
        if not self.clock:
            self.clock = "timestamp_us" if entry.timestamp_us else "received_us"
        recorded: int = getattr(entry, self.clock)
        now = self.latest = time.monotonic()
        if not self.started:
            self.started = now
        if not recorded:
            return
        if not self._origin_us:
            self._origin_us, self._origin = recorded, now
            return
        offset = (recorded - self._origin_us) / 1e6
        self.span = max(self.span, offset)
        if self.speed is None:
            return
        due = self._origin + offset / self.speed
        while due > now:  # in slices, so that a long gap still shows progress
            time.sleep(min(due - now, 0.25))
            now = self.latest = time.monotonic()
            if due > now:
                self.tick()
        self.behind = max(0.0, now - due)
        self.max_behind = max(self.max_behind, self.behind)


@contextmanager
def _open_recording(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as f:
        yield f


def _take_file(args: argparse.Namespace) -> str:
    """FILE out of the positional arguments: the one that is not KEY=VALUE (they may mix)."""
    files: list[str] = [item for item in args.overrides if not _OVERRIDE.match(item)]
    if len(files) != 1:
        found = f": {' '.join(files)}" if files else ""
        raise UsageError(f"replay takes one FILE (or - for stdin), got {len(files)}{found}")
    args.overrides = [item for item in args.overrides if _OVERRIDE.match(item)]
    return files[0]


def run(args: argparse.Namespace) -> int:
    """Publish the recording (again and again with ``--loop``); 0, or 130 on Ctrl-C."""
    args.recording = _take_file(args)
    speed = parse_speed(args.speed)
    if args.loop and args.recording == "-":
        raise UsageError("--loop needs a FILE: stdin cannot be read twice")
    schedule = Schedule(speed)
    live = Live(not args.quiet)
    start = time.monotonic()
    passes = 0
    interrupted = False
    with Publisher(io_params(args), args.topic) as publisher:
        schedule.tick = lambda: live.show(_progress(publisher.sent, start, schedule))
        try:
            while True:
                passes += 1
                schedule.restart()
                with _open_recording(args.recording) as f:
                    for entry in read_entries(f, args.recording):
                        publisher.prepare(entry)  # connecting is not part of the gaps
                        schedule.wait(entry)
                        publisher.publish(entry)
                        live.show(_progress(publisher.sent, start, schedule))
                if not args.loop or not publisher.sent:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            live.clear()
    elapsed = schedule.latest - schedule.started
    pace = "at full speed" if speed is None else f"at {speed:g}x"
    loops = f" in {passes} passes" if passes > 1 else ""
    print(
        f"replayed {publisher.sent} messages{loops} in {elapsed:.3f} s {pace} "
        f"(recorded span {schedule.span:.3f} s); "
        f"behind schedule by {schedule.max_behind * 1000:.1f} ms at most",
        flush=True,
    )
    return EXIT_INTERRUPTED if interrupted and not args.loop else EXIT_OK


def _progress(sent: int, start: float, schedule: Schedule) -> str:
    elapsed = time.monotonic() - start
    if schedule.speed is None:
        return f"{sent} messages, {elapsed:.1f} s, {rate_since(sent, start):,.0f} msg/s"
    return f"{sent} messages, {elapsed:.1f} s, behind schedule by {schedule.behind * 1000:.0f} ms"
