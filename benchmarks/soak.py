"""The soak behind ``nox -s soak``: hours of traffic squeezed into minutes, watched every second.

For each backend (the in-process queue, MQTT QoS 1 on a private Mosquitto, Kafka
AT_LEAST_ONCE on Tansu) a writer and a reader run in separate processes
(``_soak_roles.py``; the queue backend, which lives inside one process, runs them as
two threads of one) at a sustained rate with AES-GCM-256 at 1 KiB. Every second
this runner samples each process's resident memory, open file descriptors and
threads from /proc. Pass: after the warm-up every series stays within 10% of its
median with no trend (the least-squares line does not move by more than 10% over
the window), 0 messages lost, duplicates counted (allowed at AT_LEAST_ONCE).

Writes a section of docs/performance.md (between soak markers, the rest of the
page is left alone) and docs/perf-soak-<backend>.png. Exits 1 when a check fails.

Usage: ``python benchmarks/soak.py [--duration 170] [--rate 1000] [--backends queue,mqtt,kafka]``
(``--duration 20`` for a quick run while developing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _brokers import BrokerUnavailable, mosquitto, tansu  # noqa: E402
from _soak_report import BackendRun, Sample, check, plot, text_summary, write_section  # noqa: E402

ROLES = HERE / "_soak_roles.py"
BACKENDS = ("queue", "mqtt", "kafka")


def _proc_sample(pid: int) -> tuple[int, int, int] | None:
    """(RSS bytes, open fds, threads) of a live process, from /proc; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # a zombie, exited but not yet waited for
        return None
    rss = int(fields["VmRSS"].split()[0]) * 1024
    return rss, fds, int(fields["Threads"])


@contextlib.contextmanager
def _broker(backend: str) -> Iterator[dict[str, Any]]:
    """The service parameters of ``backend``, with its broker running."""
    topic = f"soak-{uuid.uuid4().hex[:8]}"
    common = {"topic": topic, "consistency": "AT_LEAST_ONCE"}
    if backend == "queue":
        yield {**common, "type": "queue", "brokers": "soak", "type_spec": {"maxsize": 10_000}}
    elif backend == "mqtt":
        with mosquitto() as port:
            yield {**common, "type": "mqtt", "brokers": f"127.0.0.1:{port}"}
    else:
        with tansu() as port:
            bootstrap = f"127.0.0.1:{port}"
            _create_topic(bootstrap, topic)
            yield {**common, "type": "kafka", "brokers": bootstrap}


def _create_topic(bootstrap: str, name: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        admin.close()


def _reader_params(backend: str, topic: str) -> dict[str, Any]:
    params: dict[str, Any] = {"topics": topic}
    if backend == "kafka":
        params["type_spec"] = {
            "group_id": f"soak-{uuid.uuid4().hex[:8]}",
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
        }
    return params


def run_backend(backend: str, duration: float, rate: float, warmup: float) -> BackendRun:
    print(f"== {backend}: {duration:.0f} s at {rate:.0f} msgs/s, 1 KiB, AES-GCM-256", flush=True)
    folder = Path(tempfile.mkdtemp(prefix=f"soak-{backend}-"))
    with _broker(backend) as params:
        topic = params.pop("topic")
        spec = {
            "folder": str(folder),
            "rate": rate,
            "duration": duration,
            "grace": 60,
            "params": params,
            "writer_params": {"topic": topic},
            "reader_params": _reader_params(backend, topic),
        }
        run = BackendRun(backend=backend, rate=rate, duration=duration, warmup=warmup)
        roles = ["both"] if backend == "queue" else ["reader", "writer"]
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for role in roles:
                procs[role] = subprocess.Popen(
                    [sys.executable, str(ROLES), role, json.dumps(spec)], cwd=folder
                )
                if role == "reader":
                    _wait_for(folder / "reader.ready", procs[role], 60)
            _sample_until_done(run, procs, folder)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for role, proc in procs.items():
            if proc.returncode != 0:
                run.errors.append(f"{role} process exited with {proc.returncode}")
        for name in ("writer", "reader"):
            path = folder / f"{name}.json"
            if path.exists():
                setattr(run, name, json.loads(path.read_text()))
    return run


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the reader did not open (exit code {proc.returncode})")
        time.sleep(0.05)


def _sample_until_done(
    run: BackendRun, procs: dict[str, subprocess.Popen[bytes]], folder: Path
) -> None:
    """Sample every live process once a second from the moment the writer starts."""
    start = time.monotonic()
    tick = 0
    while any(p.poll() is None for p in procs.values()):
        tick += 1
        t = time.monotonic() - start
        writing = not (folder / "writer.json").exists()
        for role, proc in procs.items():
            got = _proc_sample(proc.pid)
            if got is not None and writing:
                run.samples.setdefault(role, []).append(Sample(t, *got))
        time.sleep(max(0.0, start + tick - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=170.0, help="seconds per backend")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--warmup", type=float, help="seconds ignored by the checks (default: "
                        "30, or a quarter of a shorter run)")  # fmt: skip
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else min(30.0, args.duration / 4)
    runs: list[BackendRun] = []
    for backend in args.backends.split(","):
        try:
            run = run_backend(backend, args.duration, args.rate, warmup)
        except BrokerUnavailable as exc:
            print(f"== {backend}: skipped: {exc}", flush=True)
            continue
        check(run)
        print(text_summary(run), flush=True)
        runs.append(run)
    if not args.no_docs and runs:
        docs = ROOT / "docs"
        images = [plot(run, docs) for run in runs]
        write_section(runs, images, docs / "performance.md", " ".join(sys.argv[1:]))
        print(f"wrote docs/performance.md and {', '.join(p.name for p in images)}")
    failed = [run.backend for run in runs if not run.passed]
    print("soak: " + (f"FAILED: {', '.join(failed)}" if failed else "passed"), flush=True)
    return 1 if failed or not runs else 0


if __name__ == "__main__":
    raise SystemExit(main())
