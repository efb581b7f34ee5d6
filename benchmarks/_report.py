"""Medians, target checks, the text table, docs/performance.md and the plots."""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMPL_LABELS = {"ours": "ours", "raw": "raw client", "ref": "SINETStream 1.10"}
MODE_LABELS = {
    "encode": "encode",
    "decode": "decode",
    "sync": "sync writer",
    "async": "async writer",
    "async-aes": "async writer, AES-GCM-256",
    "reader": "reader",
    "open": "reader open() (opens/s; p50 / max ms)",
}
SECTION_TITLES = {
    "codec": "Codec alone (no broker)",
    "queue": "Queue backend, end to end (writer and reader in one process)",
    "plugin": "A v1.2-guide plugin (queue.Queue), end to end (writer and reader in one process)",
    "mqtt": "MQTT (Mosquitto on loopback)",
    "kafka": "Kafka protocol (Tansu on loopback)",
}


def size_label(size: int) -> str:
    """100 B, 1 KiB, 64 KiB."""
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


@dataclass
class Row:
    """One case with the median figures of every implementation."""

    section: str
    mode: str
    variant: str
    size: int
    medians: dict[str, dict[str, float]]
    rounds: dict[str, int]
    errors: dict[str, str]

    def rate(self, impl: str) -> float | None:
        fig = self.medians.get(impl)
        return fig["msgs_per_s"] if fig else None


def _median_of(results: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else math.nan


def _flatten(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A perf round reports writer and reader; other jobs report one measurement."""
    if "writer" in result and "reader" in result:
        return [result["writer"], result["reader"]]
    return [result]


def summarize(cases: list[Any]) -> list[Row]:
    """One :class:`Row` per measured case (queue rounds give a writer and a reader row)."""
    rows: list[Row] = []
    for case in cases:
        if case.section in ("queue", "plugin"):
            for index, mode in enumerate(("writer", "reader")):
                medians: dict[str, dict[str, float]] = {}
                for impl, results in case.results.items():
                    # a baseline without a writer and a reader (the bare zlib round
                    # trip) stands beside both rows
                    parts = [_flatten(r)[min(index, len(_flatten(r)) - 1)] for r in results]
                    medians[impl] = {
                        k: _median_of(parts, k)
                        for k in ("msgs_per_s", "mb_per_s", "p50_ms", "p99_ms")
                    }
                rows.append(
                    Row(
                        case.section,
                        f"{case.mode} {mode}" if mode == "writer" else f"{mode} ({case.mode} api)",
                        case.variant,
                        case.size,
                        medians,
                        {i: len(r) for i, r in case.results.items()},
                        dict(case.errors),
                    )
                )
            continue
        medians = {
            impl: {
                k: _median_of(results, k) for k in ("msgs_per_s", "mb_per_s", "p50_ms", "p99_ms")
            }
            for impl, results in case.results.items()
        }
        rows.append(
            Row(
                case.section,
                case.mode,
                case.variant,
                case.size,
                medians,
                {i: len(r) for i, r in case.results.items()},
                dict(case.errors),
            )
        )
    return rows


def case_dict(case: Any) -> dict[str, Any]:
    """A case with every round's raw result, for .bench/results.json."""
    return {
        "section": case.section,
        "mode": case.mode,
        "variant": case.variant,
        "size": case.size,
        "results": case.results,
        "errors": case.errors,
    }


def _find(rows: list[Row], section: str, mode: str, variant: str, size: int) -> Row | None:
    for row in rows:
        if (row.section, row.mode, row.variant, row.size) == (section, mode, variant, size):
            return row
    return None


@dataclass
class Check:
    """One target of issues 3, 4 and 5: a ratio, its threshold, and the verdict."""

    issue: int
    what: str
    value: float | None
    target: float
    context: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None or math.isnan(self.value):
            return "n/a"
        return "pass" if self.value >= self.target else "FAIL"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return None
    return a / b


def targets(rows: list[Row]) -> list[Check]:
    """The targets of issues 3 (codec), 4 (Kafka) and 5 (MQTT), all at 1 KiB."""
    checks: list[Check] = []
    kib = 1024
    for direction in ("encode", "decode"):
        for codec, target in (("plain", 5.0), ("aes-gcm-256", 30.0), ("gzip", 4.0)):
            if (codec, direction) == ("gzip", "encode"):
                continue  # replaced by issue 17: >= 0.9 x bare zlib (itself ~2.4 x the ref)
            row = _find(rows, "codec", direction, codec, kib)
            value = _ratio(row.rate("ours"), row.rate("ref")) if row else None
            checks.append(Check(3, f"codec {codec} {direction}: ours / ref", value, target))

    def e2e(issue: int, section: str, variant: str, reader_raw: float, label: str) -> None:
        sync = _find(rows, section, "sync", variant, kib)
        asyn = _find(rows, section, "async", variant, kib)
        aes = _find(rows, section, "async-aes", variant, kib)
        reader = _find(rows, section, "reader", variant, kib)

        def rel(row: Row | None, a: str, b: str) -> float | None:
            return _ratio(row.rate(a), row.rate(b)) if row else None

        def ctx(row: Row | None) -> str:
            value = rel(row, "ref", "raw")
            return f"ref / raw = {value:.2f}" if value is not None else ""

        checks.append(
            Check(
                issue, f"{label} sync writer: ours / raw", rel(sync, "ours", "raw"), 0.9, ctx(sync)
            )
        )
        checks.append(
            Check(
                issue, f"{label} async writer: ours / raw", rel(asyn, "ours", "raw"), 0.8, ctx(asyn)
            )
        )
        checks.append(
            Check(
                issue,
                f"{label} reader: ours / raw",
                rel(reader, "ours", "raw"),
                reader_raw,
                ctx(reader),
            )
        )
        checks.append(
            Check(issue, f"{label} async writer: ours / ref", rel(asyn, "ours", "ref"), 2.0)
        )
        checks.append(Check(issue, f"{label} reader: ours / ref", rel(reader, "ours", "ref"), 2.0))
        ours_aes = _ratio(aes.rate("ours") if aes else None, asyn.rate("ours") if asyn else None)
        ref_aes = _ratio(aes.rate("ref") if aes else None, asyn.rate("ref") if asyn else None)
        checks.append(
            Check(
                issue,
                f"{label} async writer AES-GCM / plain (ours)",
                ours_aes,
                0.5,
                f"ref: {ref_aes:.2f}" if ref_aes is not None else "",
            )
        )

    e2e(4, "kafka", "", 0.7, "Kafka")
    kafka_async = _find(rows, "kafka", "async", "", kib)
    checks.append(
        Check(
            24,
            "Kafka async writer: ours / raw (the writer's own batch encoder)",
            _ratio(kafka_async.rate("ours"), kafka_async.rate("raw")) if kafka_async else None,
            1.5,
        )
    )
    opened = _find(rows, "kafka", "open", "", kib)
    ours_open = opened.medians.get("ours") if opened else None
    checks.append(
        Check(
            24,
            "Kafka reader open() without a group: 200 ms / ours p50",
            _ratio(200.0, ours_open["p50_ms"]) if ours_open else None,
            1.0,
            f"p50 {ours_open['p50_ms']:.0f} ms" if ours_open else "",
        )
    )
    for variant in ("qos0", "qos1"):
        e2e(5, "mqtt", variant, 0.8, f"MQTT {variant.upper()}")
    checks += pipeline_targets(rows)
    return checks


def pipeline_targets(rows: list[Row]) -> list[Check]:
    """Issue 17: the in-process pipeline (msgs/s through the reader) and the codec vs its
    bare primitive."""
    checks: list[Check] = []
    kib = 1024

    def reader(section: str, api: str, variant: str) -> Row | None:
        return _find(rows, section, f"reader ({api} api)", variant, kib)

    for api, variant, label, floor in (
        ("sync", "", "queue sync writer + sync reader, msgs/s", 100_000.0),
        ("async", "", "queue async writer + async reader, msgs/s", 100_000.0),
        ("sync", "aes-gcm-256", "queue AES-GCM-256, msgs/s", 60_000.0),
    ):
        row = reader("queue", api, variant)
        checks.append(Check(17, label, row.rate("ours") if row else None, floor))
    row = reader("queue", "sync", "gzip")
    value = _ratio(row.rate("ours"), row.rate("raw")) if row else None
    checks.append(Check(17, "queue gzip: ours / bare zlib round trip", value, 0.8))
    row = reader("plugin", "sync", "plain")
    checks.append(Check(17, "v1.2 plugin plain, msgs/s", row.rate("ours") if row else None, 80e3))
    for variant, target in (("plain", 5.0), ("aes-gcm-256", 30.0), ("gzip", 4.0)):
        row = reader("plugin", "sync", variant)
        value = _ratio(row.rate("ours"), row.rate("ref")) if row else None
        checks.append(Check(17, f"v1.2 plugin {variant}: ours / ref", value, target))
    row = _find(rows, "codec", "encode", "gzip", kib)
    value = _ratio(row.rate("ours"), row.rate("raw")) if row else None
    checks.append(Check(17, "codec gzip encode: ours / bare zlib", value, 0.9))
    for row in rows:
        if row.section != "codec" or row.rate("raw") is None:
            continue
        target = 0.6 if row.size < kib else 0.8
        value = _ratio(row.rate("ours"), row.rate("raw"))
        what = f"codec {row.variant} {row.mode} {size_label(row.size)}: ours / bare primitive"
        checks.append(Check(17, what, value, target))
    return checks


def _fmt_rate(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _fmt_check(value: float | None) -> str:
    """A target's figure: a ratio with two decimals, a rate (msgs/s) in whole numbers."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _fmt_lat(fig: dict[str, float] | None) -> str:
    if not fig or math.isnan(fig.get("p50_ms", math.nan)):
        return ""
    return f"{fig['p50_ms']:.3f} / {fig['p99_ms']:.3f}"


def _case_label(row: Row) -> str:
    mode = MODE_LABELS.get(row.mode, row.mode)
    return (
        f"{row.variant} {mode}".strip()
        if row.section == "codec"
        else (f"{mode} {row.variant.upper()}".strip())
    )


HEADER = [
    "case",
    "size",
    "ours msgs/s",
    "ours MB/s",
    "raw msgs/s",
    "ref msgs/s",
    "ours/raw",
    "ours/ref",
    "ours p50/p99 ms",
    "raw p50/p99 ms",
    "ref p50/p99 ms",
]


def _table_rows(rows: list[Row], section: str) -> list[list[str]]:
    out = []
    for row in rows:
        if row.section != section:
            continue
        ours = row.medians.get("ours")
        out.append(
            [
                _case_label(row),
                size_label(row.size),
                _fmt_rate(row.rate("ours")),
                _fmt_rate(ours["mb_per_s"]) if ours else "-",
                _fmt_rate(row.rate("raw")),
                _fmt_rate(row.rate("ref")),
                _fmt_ratio(_ratio(row.rate("ours"), row.rate("raw"))),
                _fmt_ratio(_ratio(row.rate("ours"), row.rate("ref"))),
                _fmt_lat(ours),
                _fmt_lat(row.medians.get("raw")),
                _fmt_lat(row.medians.get("ref")),
            ]
        )
    return out


def text_table(rows: list[Row]) -> str:
    """The whole table as aligned text, one block per section."""
    blocks = []
    for section, title in SECTION_TITLES.items():
        body = _table_rows(rows, section)
        if not body:
            continue
        widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
        lines += [
            "  ".join(
                c.rjust(w) if i >= 2 else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in body
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def text_targets(checks: list[Check]) -> str:
    """Targets as text lines."""
    lines = ["Targets (issues 3, 4, 5 at 1 KiB; 17):"]
    for c in checks:
        value = _fmt_check(c.value)
        extra = f"  ({c.context})" if c.context else ""
        lines.append(
            f"  #{c.issue} {c.what}: {value} (target >= {_fmt_check(c.target)}) {c.verdict}{extra}"
        )
    return "\n".join(lines)


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def plots(rows: list[Row], docs: Path) -> list[Path]:
    """One PNG per section: msgs/s against message size, one line per implementation."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("matplotlib is not installed: no plots (the bench session installs it)\n")
        return []
    written = []
    docs.mkdir(parents=True, exist_ok=True)
    styles = {"ours": ("tab:blue", "o"), "raw": ("tab:gray", "s"), "ref": ("tab:orange", "^")}
    for section, title in SECTION_TITLES.items():
        mine = [r for r in rows if r.section == section]
        if not mine:
            continue
        panels: dict[str, list[Row]] = {}
        for r in mine:
            panels.setdefault(_case_label(r), []).append(r)
        ncols = min(4, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
        for ax, (label, prow) in zip(axes.flat, panels.items(), strict=False):
            for impl, (color, marker) in styles.items():
                pts = [(r.size, r.rate(impl)) for r in sorted(prow, key=lambda r: r.size)]
                pts = [(s, v) for s, v in pts if v is not None and not math.isnan(v)]
                if pts:
                    name = "bare primitive" if section == "codec" and impl == "raw" else None
                    ax.plot(
                        *zip(*pts, strict=True),
                        color=color,
                        marker=marker,
                        label=name or IMPL_LABELS[impl],
                    )
            sizes = sorted({r.size for r in prow})
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(sizes, labels=[size_label(s) for s in sizes])
            if section == "codec":
                ax.set_yscale("log")  # codecs span three orders of magnitude
            else:
                ax.set_ylim(bottom=0)
            ax.set_title(label, fontsize=10)
            ax.set_ylabel("messages/s")
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle(title)
        fig.tight_layout()
        path = docs / f"perf-{section}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def write_markdown(
    path: Path, rows: list[Row], checks: list[Check], env: dict[str, Any], plot_paths: list[Path]
) -> None:
    """Write docs/performance.md (generated: edit benchmarks/_report.py, not the page)."""
    out = [
        "# Performance",
        "",
        "<!-- Generated by `nox -s bench` (benchmarks/run.py). Do not edit by hand. -->",
        "",
        f"Measured {env['date']} on {env['machine']}, Python {env['python']}, "
        f"{env['rounds']} interleaved rounds (medians shown); the run took "
        f"{env['elapsed_s'] / 60:.1f} min.",
        "",
        "- **ours**: this project. **raw client**: paho-mqtt 2.x / kafka-python 3.x (with crc32c) "
        "used directly; for the codec, the bare primitive (zlib, zstandard, or `cryptography`'s "
        "AES with a key derived once), the ceiling for any message format around it. "
        "**ref**: SINETStream 1.10.0 from PyPI in a separate virtual environment.",
        "- Every implementation runs in its own process; every case is run once per round with "
        "the order of implementations rotated, and the whole sweep is repeated each round, so "
        "machine drift hits all of them alike.",
        "- Writers are time-boxed (about one second each), codec loops to 0.5 s. Sync writers "
        "publish one message at a "
        "time and wait for it (p50/p99 is the latency of one `publish` call); async writers "
        "publish without waiting and are timed until every message is acknowledged. Readers "
        "drain a backlog from a fresh connection, timed from before connecting to the last "
        "message: Kafka readers read a one-partition topic from the beginning; MQTT readers "
        "resume a persistent session (clean_session false) that the broker filled while they "
        "were away.",
        "- Kafka `reader open()`: five opens and closes per round of a reader as a new user "
        "writes it (no group, no type_spec) on a topic that holds a message; the rate column is "
        "opens/s, the latency columns the median and the longest open. Ours returns with the "
        "start positions taken; the raw `KafkaConsumer(topic)` and the ref take them at the "
        "first poll.",
        "- Consistency: MQTT QoS 0 = AT_MOST_ONCE, QoS 1 = AT_LEAST_ONCE; Kafka runs at "
        "AT_LEAST_ONCE: ours and the raw producer with acks=all (the ref maps it to acks=1). "
        "Payloads are random bytes; the codec uses "
        "compressible JSON-like text. MB/s counts payload bytes (10^6 bytes).",
        "- This machine is small and shared: absolute figures are noisy, ratios measured in the "
        "same run are the point.",
        "",
    ]
    versions = env.get("versions", {})
    if versions:

        def version_of(info: dict[str, Any]) -> str:
            version = info.get("version")
            if isinstance(version, dict):
                return ", ".join(f"{name} {v}" for name, v in version.items())
            return str(version)

        out.append("Versions: " + "; ".join(f"{k}: {version_of(v)}" for k, v in versions.items()))
        out.append("")
    for section, why in env.get("skipped", {}).items():
        out.append(f"> **{section}** skipped: {why}")
        out.append("")
    out += ["## Targets (issues 3, 4 and 5 at 1 KiB; issue 17)", ""]
    body = [
        [
            f"#{c.issue}",
            c.what,
            _fmt_check(c.value),
            f"≥ {_fmt_check(c.target)}",
            c.verdict,
            c.context,
        ]
        for c in checks
    ]
    out += [_md_table(["issue", "ratio", "measured", "target", "verdict", "context"], body), ""]
    for section, title in SECTION_TITLES.items():
        table = _table_rows(rows, section)
        if not table:
            continue
        out += [f"## {title}", "", _md_table(HEADER, table), ""]
        plot = next((p for p in plot_paths if p.name == f"perf-{section}.png"), None)
        if plot is not None:
            out += [f"![{title}]({plot.name})", ""]
        errs = {
            f"{_case_label(r)} {size_label(r.size)} [{i}]": e
            for r in rows
            if r.section == section
            for i, e in r.errors.items()
        }
        if errs:
            out += ["Failed runs:", ""] + [f"- {k}: {v}" for k, v in errs.items()] + [""]
    out += [
        "## Reproduce",
        "",
        "```",
        "nox -s bench            # or: python benchmarks/run.py --rounds 5",
        "```",
        "",
        "The reference 1.10 is installed once into `.bench/ref-1.10`; brokers are started "
        "on free loopback ports (Mosquitto with `max_queued_messages 0`, Tansu with memory "
        "storage). Raw per-round results are kept in `.bench/results.json`.",
        "",
    ]
    # Sections other scripts write (the soak, the bridge) are theirs: carry them over.
    from _sections import owned_sections

    old = path.read_text() if path.exists() else ""
    for section in owned_sections(old):
        out += [section, ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
