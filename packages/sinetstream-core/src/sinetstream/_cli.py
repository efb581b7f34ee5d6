"""The ``sinetstream`` command line (also ``python -m sinetstream``).

Commands: ``write``, ``read``, ``ping``, ``perf``, ``info``, ``config check`` and
``config fetch``.
Every messaging command takes ``-s/--service``, ``--config-file``,
``--no-config`` and ``KEY=VALUE`` overrides (dotted keys build nested
mappings, values are YAML: ``compression.algorithm=zstd``, ``brokers=[a, b]``).
With no config at all, ``perf`` and ``ping`` use the embedded queue backend.

Exit codes (see :data:`EXIT_CODES`): 0 success; 1 a runtime error (broker
unreachable, message rejected, ...); 2 a usage or configuration error; 3
fewer messages than expected arrived in time; 130 interrupted (Ctrl-C);
141 the output pipe was closed.

This module is imported only by the console script, never by ``import sinetstream``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import quote

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Exit status -> meaning, as documented in ``sinetstream --help``.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "runtime error (broker unreachable, authentication, rejected message, file I/O)",
    EXIT_USAGE: "usage or configuration error (bad option, config file, parameter)",
    EXIT_INCOMPLETE: "fewer messages than expected arrived in time (read --count, ping, perf)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "the output pipe was closed",
}

_PROG = "sinetstream"
_QUEUE_DEFAULTS: dict[str, Any] = {"no_config": True, "type": "queue"}


class UsageError(Exception):
    """A command-line mistake: printed with the usage hint, exit status 2."""


class Incomplete(Exception):
    """Fewer messages than expected: exit status 3."""


# --- arguments ------------------------------------------------------------------------------


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a": {"b": 1}, "c": ["x", "y"]}`` (YAML values)."""
    import yaml

    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(f"{item!r} is not KEY=VALUE (keys may be dotted: crypto.mode=GCM)")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as exc:
            raise UsageError(f"the value of {key} is not valid YAML: {exc}") from None
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return result


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration")
    group.add_argument("-s", "--service", help="service name in the config file")
    group.add_argument(
        "--config-file", metavar="PATH", help="config file (default: search the usual places)"
    )
    group.add_argument("-c", "--config", metavar="NAME", help="config name on the config server")
    group.add_argument(
        "-nc",
        "--no-config",
        "--no-config-file",
        dest="no_config",
        action="store_true",
        help="read no config file: give everything as KEY=VALUE",
    )
    group.add_argument("--topic", help="topic (default: the service's topic / topics)")
    group.add_argument("-t", "--text", action="store_true", help="value_type=text")
    group.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="parameter overrides; dotted keys, YAML values (type=mqtt brokers=host:1883)",
    )
    out = common.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sinetstream`` command."""
    from ._version import __version__

    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Write, read and measure messages through SINETStream services.",
        epilog=f"exit status:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_options()

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
    p.add_argument("-r", "--raw", action="store_true", help="print the payload only")
    p.add_argument("-f", "--file", type=Path, metavar="DIR", help="save each message in DIR")
    p.add_argument(
        "-k", "--keep-going", action="store_true", help="skip undecodable messages (warn, go on)"
    )

    p = sub.add_parser(
        "ping",
        parents=[common],
        help="round trip writer -> reader, with per-message latency",
        description="Send small text messages and time each one's way back through the service.",
    )
    p.add_argument("-C", "--count", type=int, default=5, help="messages (0: until Ctrl-C)")
    p.add_argument("-i", "--interval", type=float, default=1.0, help="seconds between messages")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="wait for a reply")

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

    p = sub.add_parser(
        "info",
        help="installed backends, value types and compressions",
        description="List every installed plugin with its distribution and version.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("config", help="configuration tools")
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    c = csub.add_parser(
        "check",
        help="validate a config file",
        description="Validate a config file; explain every problem with file, service and key.",
    )
    c.add_argument("path", nargs="?", type=Path, help="config file (default: the one in use)")
    from ._configserver import commands as config_server  # issue 16: config fetch, check --config

    config_server.add_arguments(csub, c)
    return parser


# --- helpers --------------------------------------------------------------------------------


class Live:
    """A one-line live status on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._shown = False
        self._last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= 0.2:
            self._last = now
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._shown = False


def _note(text: str) -> None:
    sys.stderr.write(f"{_PROG}: {text}\n")


def _has_config_source(args: argparse.Namespace, overrides: dict[str, Any]) -> bool:
    """Whether the user pointed at any configuration (else perf/ping may use the queue)."""
    from ._config import default_config_paths

    if args.service or args.config_file or args.config or args.no_config or "type" in overrides:
        return True
    return any(p.is_file() for p in default_config_paths())


def _io_kwargs(args: argparse.Namespace, *, queue_fallback: bool = False) -> dict[str, Any]:
    """Constructor keyword arguments common to readers and writers."""
    overrides = parse_overrides(args.overrides)
    kwargs: dict[str, Any] = {}
    if queue_fallback and not _has_config_source(args, overrides):
        from ._registry import registry

        if "queue" not in registry("reader"):
            raise UsageError(
                "no config file found, and the embedded queue backend is not installed: "
                "pip install sinetstream-queue, or name a service (-s, --config-file) "
                "or a backend (--no-config type=mqtt brokers=HOST:PORT)"
            )
        _note("no config file found: using the embedded queue backend (type=queue)")
        kwargs.update(_QUEUE_DEFAULTS)
    kwargs.update(overrides)
    if args.service:
        kwargs["service"] = args.service
    if args.config_file:
        kwargs["config_file"] = str(args.config_file)
    if args.config:
        kwargs["config"] = args.config
    if args.no_config:
        kwargs["no_config"] = True
    if args.text:
        kwargs["value_type"] = "text"
    return kwargs


def _writer_kwargs(base: dict[str, Any], topic: str | None) -> dict[str, Any]:
    kwargs = dict(base)
    if topic is not None:
        kwargs["topic"] = topic
    return kwargs


def _reader_kwargs(base: dict[str, Any], topic: str | None) -> dict[str, Any]:
    kwargs = dict(base)
    if topic is not None:
        kwargs["topics"] = topic
    elif "topics" not in kwargs and "topic" in kwargs:
        kwargs["topics"] = kwargs["topic"]
    return kwargs


def _default_topic(base: dict[str, Any], explicit: str | None, prefix: str) -> str | None:
    """A private topic for ping/perf when neither the options nor the queue fallback name one."""
    if explicit:
        return explicit
    if "topic" in base or "topics" in base:
        return None
    if base.get("service") or base.get("config_file") or base.get("config"):
        return None  # the service may define its topic
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _service_label(kwargs: dict[str, Any]) -> str:
    if kwargs.get("type") == "queue" and kwargs.get("no_config"):
        return "embedded queue"
    if kwargs.get("service"):
        return f"service {kwargs['service']}"
    return f"type {kwargs.get('type', '?')}"


# --- commands -------------------------------------------------------------------------------


def cmd_write(args: argparse.Namespace) -> int:
    from . import MessageWriter

    kwargs = _writer_kwargs(_io_kwargs(args), args.topic)
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
        _note(f"published {sent} message(s) to {writer.topic}")
    return EXIT_OK


def _print_message(n: int, message: Any, raw_output: bool, out: IO[bytes]) -> None:
    if not raw_output:
        out.write(f'[#{n}] Received on "{message.topic}"\n'.encode())
    value = message.value
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    out.write(data)
    # Text gets its missing final newline; bytes one only between headers.
    needs_newline = not value.endswith("\n") if isinstance(value, str) else not raw_output
    if needs_newline:
        out.write(b"\n")
    out.flush()


def cmd_read(args: argparse.Namespace) -> int:
    from . import MessageReader

    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    kwargs = _reader_kwargs(_io_kwargs(args), args.topic)
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
            for message in reader:
                n += 1
                if save_dir is not None:
                    topic = quote(message.topic or "none", safe="")
                    value = message.value
                    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
                    (save_dir / f"{topic}-{run_id}-{n:06d}").write_bytes(data)
                else:
                    _print_message(n, message, args.raw, out)
                elapsed = time.monotonic() - start
                live.show(f"{n} messages, {n / elapsed if elapsed else 0:,.0f} msg/s")
                if args.count is not None and n >= args.count:
                    break
    finally:
        live.clear()
    if args.verbose:
        _note(f"received {n} message(s)")
    if args.count is not None and n < args.count:
        raise Incomplete(f"received {n} of {args.count} messages before the timeout")
    return EXIT_OK


def cmd_ping(args: argparse.Namespace) -> int:
    from . import MessageReader, MessageWriter
    from ._workload import percentile

    base = _io_kwargs(args, queue_fallback=True)
    base["value_type"] = "text"
    topic = _default_topic(base, args.topic, "sinetstream-ping")
    if args.count < 0:
        raise UsageError("--count must be >= 0")
    reader_kwargs = _reader_kwargs(base, topic)
    reader_kwargs.setdefault("receive_timeout_ms", 200)
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
                    run, _, seq_text = str(message.value).partition(" ")
                    if run != tag or not seq_text.isdigit():
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
    with MessageReader(**reader_kwargs) as reader:
        thread = threading.Thread(target=receive, args=(reader,), name="ping-reader", daemon=True)
        thread.start()
        try:
            with MessageWriter(**_writer_kwargs(base, topic)) as writer:
                print(f"PING {_service_label(base)} topic {writer.topic}", flush=True)
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
            _ping_summary(len(sent_at), latencies, percentile)
            raise
        finally:
            stop.set()
            thread.join(timeout=5)
    if errors:
        raise errors[0]
    _ping_summary(len(sent_at), latencies, percentile)
    if len(latencies) < len(sent_at):
        raise Incomplete(f"{len(sent_at) - len(latencies)} message(s) did not come back")
    return EXIT_OK


def _ping_summary(
    sent: int, latencies: list[float], percentile: Callable[[Sequence[float], float], float]
) -> None:
    received = len(latencies)
    lost = 100.0 * (sent - received) / sent if sent else 0.0
    print(f"--- {sent} sent, {received} received, {lost:.0f}% lost")
    if latencies:
        lat = sorted(latencies)
        print(
            f"latency min/avg/p50/p99/max = {lat[0]:.3f}/{sum(lat) / len(lat):.3f}/"
            f"{percentile(lat, 50):.3f}/{percentile(lat, 99):.3f}/{lat[-1]:.3f} ms",
            flush=True,
        )


_TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    # (field, label, format)
    ("msg_count_total", "messages", "{:,.0f}"),
    ("time", "time (s)", "{:,.3f}"),
    ("msg_count_rate", "messages/s", "{:,.0f}"),
    ("msg_bytes_total", "bytes (on the wire)", "{:,.0f}"),
    ("msg_bytes_rate", "MB/s (on the wire)", "MB"),
    ("msg_size_min", "message size min", "{:,.0f}"),
    ("msg_size_avg", "message size avg", "{:,.1f}"),
    ("msg_size_max", "message size max", "{:,.0f}"),
    ("msg_compression_ratio", "compression ratio", "{:.3f}"),
    ("error_count_total", "errors", "{:,.0f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "MB":
        return f"{value / 1e6:,.2f}"
    return fmt.format(value)


def _perf_table(writer: dict[str, Any], reader: dict[str, Any], extra: list[str]) -> str:
    rows = [("", "writer", "reader")]
    rows += [
        (label, _cell(writer.get(f), fmt), _cell(reader.get(f), fmt))
        for f, label, fmt in _TABLE_ROWS
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}".rstrip() for r in rows
    ]
    return "\n".join(extra + lines)


def cmd_perf(args: argparse.Namespace) -> int:
    import sinetstream

    from . import _workload

    if args.num_samples < 1 or args.payload_size < 0 or args.rounds < 1:
        raise UsageError("--num-samples and --rounds must be >= 1, --payload-size >= 0")
    base = _io_kwargs(args, queue_fallback=True)
    topic = _default_topic(base, args.topic, "sinetstream-perf")
    writer_kwargs = _writer_kwargs(base, topic)
    reader_kwargs = _reader_kwargs(base, topic)
    reader_kwargs.setdefault("receive_timeout_ms", 200)
    # Random bytes, as the reference perftool sends, whatever the service's value type.
    base["value_type"] = "byte_array"
    writer_kwargs["value_type"] = reader_kwargs["value_type"] = "byte_array"
    payload = _workload.make_payload(args.payload_size)
    live = Live(not args.quiet)
    out = sys.stdout
    tsv_header_done = False
    incomplete = False
    for round_no in range(1, args.rounds + 1):
        started = time.monotonic()
        prefix = f"round {round_no}/{args.rounds}: " if args.rounds > 1 else ""

        def progress(
            written: int, received: int, prefix: str = prefix, t0: float = started
        ) -> None:
            elapsed = time.monotonic() - t0
            live.show(
                f"{prefix}written {written:,}/{args.num_samples:,}, read {received:,} "
                f"({received / elapsed if elapsed else 0:,.0f} msg/s)"
            )

        try:
            result = _workload.perf_round(
                sinetstream,
                writer_kwargs,
                reader_kwargs,
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
            if not tsv_header_done:
                header = [f"writer_{k}" for k in w] + [f"reader_{k}" for k in r]
                out.write("\t".join(header) + "\n")
                tsv_header_done = True
            out.write("\t".join("" if v is None else str(v) for v in [*w.values(), *r.values()]))
            out.write("\n")
        else:
            api = "async" if args.async_api else "sync"
            head = [
                f"{prefix}{args.num_samples:,} messages of {args.payload_size:,} bytes, "
                f"{api} API, {_service_label(base)}" + (f", topic {topic}" if topic else ""),
                f"steady rate (first to last message): writer {result.writer.msgs_per_s:,.0f} "
                f"msg/s, reader {result.reader.msgs_per_s:,.0f} msg/s",
                "",
            ]
            if round_no > 1:
                out.write("\n")
            out.write(_perf_table(w, r, head) + "\n")
        out.flush()
    if incomplete:
        raise Incomplete("the reader received fewer messages than were written")
    return EXIT_OK


#: Value types and compressions the core implements itself (no entry point).
_BUILTINS: dict[str, tuple[tuple[str, str], ...]] = {
    "value_type": (("byte_array", "sinetstream._value_type"), ("text", "sinetstream._value_type")),
    "compression": (("gzip", "sinetstream._compression"), ("zstd", "sinetstream._compression")),
}


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    from ._config import default_config_paths
    from ._registry import registry
    from ._version import __version__

    groups = ["reader", "writer", "async_reader", "async_writer", "value_type", "compression"]
    data: dict[str, Any] = {
        "sinetstream": __version__,
        "python": platform.python_version(),
        "config_files": [{"path": str(p), "exists": p.is_file()} for p in default_config_paths()],
        "plugins": {},
    }
    for group in groups:
        entries: list[dict[str, Any]] = [
            {
                "name": p.name,
                "target": p.target,
                "distribution": p.distribution,
                "version": p.version,
            }
            for p in registry(group).plugins()
        ]
        known = {e["name"] for e in entries}
        entries += [
            {
                "name": name,
                "target": target,
                "distribution": "sinetstream-core (built in)",
                "version": __version__,
            }
            for name, target in _BUILTINS.get(group, ())
            if name not in known
        ]
        data["plugins"][group] = sorted(entries, key=lambda e: e["name"])
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    lines = [f"sinetstream {data['sinetstream']} (Python {data['python']})", ""]
    # Backends: one line per type, with the roles (reader/writer/async) it offers.
    backends: dict[str, dict[str, Any]] = {}
    for group in groups[:4]:
        for p in data["plugins"][group]:
            entry = backends.setdefault(p["name"], {"roles": [], "dist": p})
            entry["roles"].append(group.replace("_", " "))
    sections: list[tuple[str, list[tuple[str, dict[str, Any], str]]]] = [
        (
            "backends (type:)",
            [(n, e["dist"], ", ".join(e["roles"])) for n, e in sorted(backends.items())],
        ),
        ("value types (value_type:)", [(p["name"], p, "") for p in data["plugins"]["value_type"]]),
        (
            "compressions (compression.algorithm:)",
            [(p["name"], p, "") for p in data["plugins"]["compression"]],
        ),
    ]
    for title, rows in sections:
        lines.append(title)
        if not rows:
            lines.append("  (none installed)")
        for name, p, roles in rows:
            dist = (
                f"{p['distribution']} {p['version']}" if p["distribution"] else "registered in code"
            )
            lines.append(
                f"  {name:<12} {dist:<34} {p['target']}" + (f"  [{roles}]" if roles else "")
            )
        lines.append("")
    lines.append("config files searched:")
    for entry in data["config_files"]:
        lines.append(f"  {entry['path']}" + ("" if entry["exists"] else "  (absent)"))
    print("\n".join(lines))
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from ._config import check_config_file, default_config_paths
    from ._configserver import commands as config_server  # issue 16

    if config_server.wants(args):
        return config_server.run(args)
    path: Path | None = args.path
    if path is None:
        found = [p for p in default_config_paths() if p.is_file()]
        if not found:
            searched = ", ".join(str(p) for p in default_config_paths())
            raise UsageError(f"no config file found (searched {searched}); give a PATH")
        path = found[0]
    if not path.expanduser().is_file():
        raise UsageError(f"{path}: no such file")
    problems = check_config_file(path)
    if problems:
        for problem in problems:
            print(problem)
        _note(f"{len(problems)} problem(s) in {path}")
        return EXIT_USAGE
    print(f"{path}: no problems found")
    return EXIT_OK


# --- main -----------------------------------------------------------------------------------


def _exit_code_for(error: BaseException) -> int:
    from . import error as e

    config_errors = (
        e.NoConfigError,
        e.NoServiceError,
        e.InvalidConfigError,
        e.InvalidArgumentError,
        e.UnsupportedServiceTypeError,
    )
    return EXIT_USAGE if isinstance(error, config_errors) else EXIT_ERROR


@contextmanager
def _broken_pipe_guard() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        # Keep the interpreter from complaining again while flushing at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise


def _fail(message: str) -> NoReturn:
    _note(f"error: {message} (see {_PROG} --help)")
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "config" and args.config_command is None:
        _fail("config needs a subcommand: config check [PATH | --config NAME], config fetch NAME")
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING,
        format=f"{_PROG}: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "write": cmd_write,
        "read": cmd_read,
        "ping": cmd_ping,
        "perf": cmd_perf,
        "info": cmd_info,
        "config": cmd_config_check,
    }
    from .error import SinetError

    try:
        with _broken_pipe_guard():
            return commands[args.command](args)
    except UsageError as exc:
        _fail(str(exc))
    except Incomplete as exc:
        _note(str(exc))
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        _note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    except SinetError as exc:
        if verbose:
            logging.getLogger("sinetstream").exception("failed")
        _note(f"error: {exc}")
        return _exit_code_for(exc)
    except OSError as exc:  # files given on the command line
        _note(f"error: {exc}")
        return EXIT_ERROR
