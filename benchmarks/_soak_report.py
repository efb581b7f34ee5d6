"""The soak's checks, its text summary, its section of docs/performance.md and its plots."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from _sections import put_section

#: A series may stray this far from its post-warm-up median, and its trend move this much.
TOLERANCE = 0.10
START = "<!-- soak: written by benchmarks/soak.py (nox -s soak); edit that, not this section -->"
END = "<!-- /soak -->"
SERIES = (("rss", "RSS"), ("fds", "open fds"), ("threads", "threads"))


class Sample(NamedTuple):
    """One look at a process: seconds since the writer started, RSS bytes, fds, threads."""

    t: float
    rss: int
    fds: int
    threads: int


@dataclass
class BackendRun:
    """Everything one backend's soak produced, and the verdict."""

    backend: str
    rate: float
    duration: float
    warmup: float
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    writer: dict[str, Any] = field(default_factory=dict)
    reader: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: role -> series -> (median, largest deviation from it, trend over the window), relative
    stability: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def lost(self) -> int:
        return int(self.reader.get("missing_count", -1))


def _trend(points: list[tuple[float, float]]) -> float:
    """How far the least-squares line moves over the span of ``points`` (same unit as y)."""
    ts = [t for t, _ in points]
    mean_t = statistics.fmean(ts)
    mean_y = statistics.fmean(y for _, y in points)
    var = sum((t - mean_t) ** 2 for t in ts)
    if var == 0:
        return 0.0
    slope = sum((t - mean_t) * (y - mean_y) for t, y in points) / var
    return slope * (ts[-1] - ts[0])


def check(run: BackendRun) -> None:
    """Fill ``run.stability`` and ``run.errors`` from the samples and the two results."""
    for role, samples in run.samples.items():
        steady = [s for s in samples if s.t >= run.warmup]
        if len(steady) < 5:
            run.errors.append(f"{role}: only {len(steady)} samples after the warm-up")
            continue
        run.stability[role] = {}
        for name, label in SERIES:
            points = [(s.t, float(getattr(s, name))) for s in steady]
            median = statistics.median(y for _, y in points)
            spread = max(abs(y - median) for _, y in points) / median
            trend = _trend(points) / median
            run.stability[role][name] = (median, spread, trend)
            if spread > TOLERANCE or abs(trend) > TOLERANCE:
                run.errors.append(
                    f"{role} {label}: {spread:.1%} from its median, trend {trend:+.1%} "
                    f"(limit {TOLERANCE:.0%})"
                )
    writer, reader = run.writer, run.reader
    if not writer or not reader:
        run.errors.append("no result from the writer or the reader")
        return
    if writer["failed"]:
        run.errors.append(f"{len(writer['failed'])} publishes failed: {writer['failed'][:10]}")
    if writer["acked"] + len(writer["failed"]) != writer["published"]:
        run.errors.append("some publishes were never settled")
    if reader["missing_count"]:
        run.errors.append(f"{reader['missing_count']} lost: {reader['missing'][:10]}")
    if reader["out_of_range"]:
        run.errors.append(f"{reader['out_of_range']} messages with unknown numbers")


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _figures(run: BackendRun) -> list[list[str]]:
    rows = []
    for role, series in run.stability.items():
        cells = [run.backend, role]
        for name, _ in SERIES:
            median, spread, trend = series[name]
            shown = _mib(median) if name == "rss" else f"{median:.0f}"
            cells.append(f"{shown} (±{spread:.1%}, trend {trend:+.1%})")
        rows.append(cells)
    return rows


def text_summary(run: BackendRun) -> str:
    w, r = run.writer, run.reader
    lines = [
        f"== {run.backend}: {'PASS' if run.passed else 'FAIL'}: published {w.get('published')}, "
        f"acked {w.get('acked')}, received {r.get('received')}, lost {r.get('missing_count')}, "
        f"duplicates {r.get('duplicates')}"
    ]
    lines += ["   " + " | ".join(cells[1:]) for cells in _figures(run)]
    lines += [f"   ! {error}" for error in run.errors]
    return "\n".join(lines)


def plot(run: BackendRun, docs: Path) -> Path:
    """docs/perf-soak-<backend>.png: RSS over time of each process, the warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for role, samples in run.samples.items():
        ax.plot([s.t for s in samples], [s.rss / 2**20 for s in samples], label=role)
    ax.axvspan(0, run.warmup, color="0.9", label="warm-up")
    ax.set_xlabel("seconds since the writer started")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"soak, {run.backend}: {run.rate:.0f} msgs/s, 1 KiB, AES-GCM-256")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = docs / f"perf-soak-{run.backend}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _section(runs: list[BackendRun], images: list[Path], options: str) -> str:
    out = [
        START,
        "## Soak",
        "",
        f"`nox -s soak{' -- ' + options if options else ''}`, run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"(Python {platform.python_version()}). Per backend a writer and a reader in separate "
        "processes (the in-process queue: two threads of one process), `AsyncMessageWriter` + "
        "`MessageReader`, AT_LEAST_ONCE (MQTT QoS 1, Kafka acks=all on Tansu), 1 KiB, "
        "AES-GCM-256, paced at a fixed rate. RSS, open fds and threads of each process are "
        "sampled every second while the writer runs; the figures are the median after the "
        f"warm-up, the largest deviation from it and the least-squares trend over the window "
        f"(pass: both within {TOLERANCE:.0%}).",
        "",
        "| backend | rate | seconds | published | lost | duplicates | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        w, r = run.writer, run.reader
        out.append(
            f"| {run.backend} | {run.rate:.0f}/s | {run.duration:.0f} (warm-up {run.warmup:.0f}) "
            f"| {w.get('published')} | {r.get('missing_count')} | {r.get('duplicates')} "
            f"| {'pass' if run.passed else 'FAIL: ' + '; '.join(run.errors)} |"
        )
    out += ["", "| backend | process | RSS | open fds | threads |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(cells) + " |" for run in runs for cells in _figures(run)]
    out.append("")
    out += [f"![soak, {run.backend}]({img.name})" for run, img in zip(runs, images, strict=True)]
    out += ["", END]
    return "\n".join(out)


def write_section(runs: list[BackendRun], images: list[Path], page: Path, options: str) -> None:
    """Put the soak section into ``page``: in place of the previous one, else at the end."""
    put_section(page, _section(runs, images, options))
