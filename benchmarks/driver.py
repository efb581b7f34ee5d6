"""Benchmark driver: runs jobs sent by ``run.py`` and answers with JSON, one line each.

Started as ``python driver.py --impl sinetstream`` (the ``sinetstream`` that
this Python imports: ours in the bench venv, SINETStream 1.10 in the reference
venv) or ``--impl raw`` (kafka-python / paho-mqtt directly, see ``_raw.py``).
Both run the same workload code, the package ``sinetstream/_workload/``, loaded
by path when the imported ``sinetstream`` does not ship it (the reference).

Protocol: one JSON job per stdin line; one JSON reply per stdout line. A
``read`` job first replies ``{"event": "ready"}`` once the reader is open, then
its result. Library output is sent to stderr so stdout carries only replies.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
WORKLOAD_DIR = HERE.parent / "packages" / "sinetstream-core" / "src" / "sinetstream" / "_workload"


def load_workload() -> ModuleType:
    """Our ``sinetstream._workload`` if installed, else the same package from the source tree."""
    try:
        from sinetstream import _workload  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "bench_workload",
            WORKLOAD_DIR / "__init__.py",
            submodule_search_locations=[str(WORKLOAD_DIR)],  # its modules import each other
        )
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_workload"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    return _workload


def open_times(seconds: list[float]) -> dict[str, Any]:
    """Open times as a result row: opens/s in the rate column, p50 / max in the latency ones."""
    return {
        "msgs_per_s": len(seconds) / sum(seconds),
        "mb_per_s": None,
        "p50_ms": statistics.median(seconds) * 1000,
        "p99_ms": max(seconds) * 1000,
    }


def register_v12_plugin() -> None:
    """Make ``type: v12queue`` (``v12_queue.py``) an installed plugin, before ``sinetstream``
    is imported (the reference reads its entry points at import).

    A dist-info directory with an ``entry_points.txt``, on ``sys.path``: what
    ``pip install`` of a plugin would leave. The reference 1.10 gets the
    ``*For110`` classes, which take its ``(confver, params)`` constructor.
    """
    from importlib import metadata

    try:
        metadata.version("sinetstream-core")
        suffix, variant = "", "ours"
    except metadata.PackageNotFoundError:
        suffix, variant = "For110", "ref"
    root = HERE.parent / ".bench" / f"v12-plugin-{variant}"
    dist_info = root / "bench_v12_queue-1.2.0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bench-v12-queue\nVersion: 1.2.0\n"
    )
    groups = {
        "reader": "QueueReader",
        "writer": "QueueWriter",
        "async_reader": "QueueAsyncReader",
        "async_writer": "QueueAsyncWriter",
    }
    (dist_info / "entry_points.txt").write_text(
        "".join(
            f"[sinetstream.{group}]\nv12queue = v12_queue:{name}{suffix}\n\n"
            for group, name in groups.items()
        )
    )
    sys.path[:0] = [str(root), str(HERE)]


def describe(api: ModuleType) -> dict[str, Any]:
    """Name and version of the implementation under test."""
    from importlib import metadata

    version = getattr(api, "__version__", None)
    if version is None:
        for dist in ("sinetstream", "sinetstream-core"):
            try:
                version = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return {"impl": api.__name__, "version": version, "python": sys.version.split()[0]}


class SinetImpl:
    """Jobs run through the SINETStream API (ours or the reference)."""

    def __init__(self, workload: ModuleType) -> None:
        import sinetstream

        self.api = sinetstream
        self.workload = workload

    def hello(self) -> dict[str, Any]:
        return describe(self.api)

    def codec(self, job: dict[str, Any]) -> Any:
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "text"))
        fn = wl.codec_encode if job["direction"] == "encode" else wl.codec_decode
        return fn(self.api, job["params"], payload, duration=job["duration"])

    def write(self, job: dict[str, Any]) -> Any:
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "random"))
        return wl.write_messages(
            self.api,
            job["params"],
            payload,
            count=job["count"],
            duration=job["duration"],
            async_api=job.get("async", False),
        )

    def read(self, job: dict[str, Any], ready: Any) -> Any:
        return self.workload.read_messages(
            self.api, job["params"], count=job["count"], on_ready=ready
        )

    def open_reader(self, job: dict[str, Any]) -> list[float]:
        """Seconds each ``MessageReader.open()`` took, on a topic that holds a message."""
        api = self.api
        with api.MessageWriter(**job["writer_params"]) as writer:
            writer.publish(os.urandom(job["size"]))

        times: list[float] = []
        for _ in range(job["repeat"]):
            reader = api.MessageReader(**job["params"])
            start = time.perf_counter()
            reader.open()
            times.append(time.perf_counter() - start)
            reader.close()
        return times

    def perf(self, job: dict[str, Any]) -> Any:
        wl = self.workload
        payload = wl.make_payload(job["size"], job.get("kind", "random"))
        result = wl.perf_round(
            self.api,
            job["writer_params"],
            job["reader_params"],
            payload,
            count=job["count"],
            async_api=job.get("async", False),
        )
        return {"writer": result.writer.as_dict(), "reader": result.reader.as_dict()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=["sinetstream", "raw"], required=True)
    args = parser.parse_args()

    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # keep library prints off the protocol channel

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    if args.impl == "sinetstream":
        register_v12_plugin()
    workload = load_workload()
    impl: Any
    if args.impl == "raw":
        sys.path.insert(0, str(HERE))
        import _raw

        impl = _raw.RawImpl(workload)
    else:
        impl = SinetImpl(workload)

    for line in sys.stdin:
        job = json.loads(line)
        op = job["op"]
        job_id = job.get("id")
        if op == "quit":
            break
        try:
            if op == "hello":
                result: Any = impl.hello()
            elif op == "open_reader":
                result = open_times(impl.open_reader(job))
            elif op == "read":
                result = impl.read(job, lambda i=job_id: reply({"event": "ready", "id": i}))
            else:
                result = getattr(impl, op)(job)
            if hasattr(result, "as_dict"):
                result = result.as_dict()
            reply({"ok": True, "result": result, "id": job_id})
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}", "id": job_id})
    return 0


if __name__ == "__main__":
    sys.exit(main())
