"""What the commands print: received messages, tables, summaries and the live progress line."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any


class Live:
    """A one-line live status on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._shown = False
        self._last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        """Replace the status line with ``text``, at most five times a second unless ``force``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= 0.2:
            self._last = now
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        """Erase the status line, if one is shown."""
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._shown = False


def rate_since(count: int, start: float) -> float:
    """``count`` per second since ``start`` (a ``time.monotonic()`` value); 0 at the start."""
    elapsed = time.monotonic() - start
    return count / elapsed if elapsed else 0.0


def value_bytes(value: str | bytes) -> bytes:
    """A message value as bytes: text in UTF-8."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def print_message(n: int, message: Any, raw_output: bool, out: IO[bytes]) -> None:
    """Write message number ``n``, under a ``[#n] Received on "topic"`` header unless raw."""
    if not raw_output:
        out.write(f'[#{n}] Received on "{message.topic}"\n'.encode())
    value = message.value
    out.write(value_bytes(value))
    # Text gets its missing final newline; bytes one only between headers.
    needs_newline = not value.endswith("\n") if isinstance(value, str) else not raw_output
    if needs_newline:
        out.write(b"\n")
    out.flush()


def ping_summary(sent: int, latencies: Sequence[float]) -> None:
    """The closing lines of ``ping``: messages lost, latency statistics in milliseconds."""
    from sinetstream._workload import percentile

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


def perf_table(writer: dict[str, Any], reader: dict[str, Any], extra: list[str]) -> str:
    """The writer's and the reader's metrics side by side, under the lines ``extra``."""
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


def info_text(data: dict[str, Any], backend_groups: Sequence[str]) -> str:
    """``sinetstream info`` for people: backends with their roles, value types, compressions.

    ``data`` is what ``info --json`` prints; ``backend_groups`` are its plugin
    groups that make a backend (one line per type, the groups as its roles).
    """
    lines = [f"sinetstream {data['sinetstream']} (Python {data['python']})", ""]
    backends: dict[str, dict[str, Any]] = {}
    for group in backend_groups:
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
    return "\n".join(lines)
