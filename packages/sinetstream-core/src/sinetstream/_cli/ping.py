"""``sinetstream ping``: small messages through a service and back, each one's latency."""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import Any

from .output import ping_summary
from .params import Subparsers, round_trip
from .status import EXIT_OK, Incomplete, UsageError


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``ping`` and its options."""
    p = sub.add_parser(
        "ping",
        parents=[common],
        help="round trip writer -> reader, with per-message latency",
        description="Send small text messages and time each one's way back through the service.",
    )
    p.add_argument("-C", "--count", type=int, default=5, help="messages (0: until Ctrl-C)")
    p.add_argument("-i", "--interval", type=float, default=1.0, help="seconds between messages")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="wait for a reply")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Ping ``--count`` times (0: until Ctrl-C); 3 if a message did not come back."""
    from sinetstream import MessageReader, MessageWriter

    params = round_trip(args, "sinetstream-ping", "text")
    if args.count < 0:
        raise UsageError("--count must be >= 0")
    tag = uuid.uuid4().hex[:8]
    sent_at: dict[int, int] = {}
    latencies: list[float] = []
    seen: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def receive(reader: Any) -> None:
        try:
            while not stop.is_set():
                for message in reader:
                    now = time.perf_counter_ns()
                    run_tag, _, seq_text = str(message.value).partition(" ")
                    if run_tag != tag or not seq_text.isdigit():
                        continue  # somebody else's message on the topic
                    seq = int(seq_text)
                    with lock:
                        dup = seq in seen
                        seen.add(seq)
                        start_ns = sent_at.get(seq)
                    if start_ns is None:
                        continue
                    ms = (now - start_ns) / 1e6
                    if not dup:
                        latencies.append(ms)
                    print(
                        f"seq={seq} topic={message.topic} time={ms:.3f} ms"
                        + (" (DUP)" if dup else ""),
                        flush=True,
                    )
                    if stop.is_set():
                        break
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    count = args.count
    interval = max(args.interval, 0.0)
    with MessageReader(**params.reader) as reader:
        thread = threading.Thread(target=receive, args=(reader,), name="ping-reader", daemon=True)
        thread.start()
        try:
            with MessageWriter(**params.writer) as writer:
                print(f"PING {params.label} topic {writer.topic}", flush=True)
                seq = 0
                while count == 0 or seq < count:
                    seq += 1
                    with lock:
                        sent_at[seq] = time.perf_counter_ns()
                    writer.publish(f"{tag} {seq}")
                    if errors:
                        break
                    if count == 0 or seq < count:
                        time.sleep(interval)
                deadline = time.monotonic() + args.timeout
                while time.monotonic() < deadline and not errors:
                    with lock:
                        if len(seen) >= seq:
                            break
                    time.sleep(0.01)
        except KeyboardInterrupt:
            ping_summary(len(sent_at), latencies)
            raise
        finally:
            stop.set()
            thread.join(timeout=5)
    if errors:
        raise errors[0]
    ping_summary(len(sent_at), latencies)
    if len(latencies) < len(sent_at):
        raise Incomplete(f"{len(sent_at) - len(latencies)} message(s) did not come back")
    return EXIT_OK
