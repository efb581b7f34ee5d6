"""The benchmark runner behind ``nox -s bench``.

Measures, in one run, messages/s and MB/s (and p50/p99 publish latency for
sync writers) of:

* the codec alone (plain, gzip, zstd, AES-GCM-256, AES-CBC-256) at 100 B, 1 KiB, 64 KiB;
* the queue backend end to end (plain at every size; AES-GCM and gzip at 1 KiB);
* a plugin written to the v1.2 guide (``v12_queue.py``) through ours and the reference;
* MQTT (a private Mosquitto) and Kafka (Tansu) end to end: sync writer, async
  writer, async writer with AES-GCM, reader; MQTT at QoS 0 and 1;

for this project ("ours"), the raw client library ("raw": paho-mqtt 2.x,
kafka-python 3.x with crc32c) and the reference SINETStream 1.10 ("ref",
installed from PyPI into ``.bench/ref-1.10``, never a dependency of ours).
Each implementation runs in its own long-lived driver process (``driver.py``);
every case is run once per round with the order of implementations rotated,
and rounds repeat the whole sweep, so machine drift hits all alike. Medians
over rounds are reported. Writes ``docs/performance.md`` and ``docs/perf-*.png``.

Usage: ``python benchmarks/run.py [--rounds 5] [--sections codec,queue,plugin,mqtt,kafka]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _brokers  # noqa: E402
import _report  # noqa: E402

REF_VERSION = "1.10.0"
REF_PACKAGES = [
    f"sinetstream=={REF_VERSION}",
    f"sinetstream-kafka=={REF_VERSION}",
    f"sinetstream-mqtt=={REF_VERSION}",
    f"sinetstream-iostream=={REF_VERSION}",
    # kafka-python-ng uses crc32c when present, as our raw baseline does: like for like.
    "crc32c",
]
SIZES = (100, 1024, 65536)
IMPLS = ("ours", "raw", "ref")
PASSWORD = "bench-password-0001"  # a throwaway benchmark password, not a secret
CODECS: dict[str, dict[str, Any]] = {
    "plain": {},
    "gzip": {"data_compression": True, "compression": {"algorithm": "gzip"}},
    "zstd": {"data_compression": True, "compression": {"algorithm": "zstd"}},
    "aes-gcm-256": {
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "key_length": 256, "mode": "GCM", "password": PASSWORD},
    },
    "aes-cbc-256": {
        "data_encryption": True,
        "crypto": {
            "algorithm": "AES",
            "key_length": 256,
            "mode": "CBC",
            "padding": "pkcs7",
            "password": PASSWORD,
        },
    },
}
AES_GCM = CODECS["aes-gcm-256"]
#: ``type:`` of the v1.2-guide plugin of the bench (``v12_queue.py``, registered by the driver).
V12_TYPE = "v12queue"
RESULTS = ROOT / ".bench" / "results.json"


# -- progress ----------------------------------------------------------------------------


class Progress:
    """One status line on stderr: step i/n, elapsed, estimated time left.

    After the first round the estimate uses each step's own duration in the
    previous round, since cases differ a lot (a codec run vs a broker reader).
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0
        self.durations: dict[str, float] = {}
        self.remaining: list[str] = []
        self._current: tuple[str, float] | None = None

    def plan(self, keys: list[str]) -> None:
        """The steps still to run, in order (keys repeat from round to round)."""
        self.remaining = list(keys)

    def _finish_current(self, now: float) -> None:
        if self._current is not None:
            key, began = self._current
            self.durations[key] = now - began

    def step(self, label: str, key: str = "") -> None:
        now = time.monotonic()
        self._finish_current(now)
        self._current = (key, now)
        if self.remaining:
            self.remaining.pop(0)
        self.done += 1
        elapsed = now - self.start
        average = elapsed / max(self.done - 1, 1)
        left = sum(self.durations.get(k, average) for k in self.remaining)
        text = (
            f"[{self.done:4d}/{self.total}] {_mmss(elapsed)} elapsed, ~{_mmss(left)} left  {label}"
        )
        if self.tty:
            sys.stderr.write("\r\033[K" + text[:150])
            sys.stderr.flush()
        elif now - self.last_print >= 10 or self.done == self.total:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self.last_print = now

    def end_line(self) -> None:
        self._finish_current(time.monotonic())
        if self.tty:
            sys.stderr.write("\n")


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def note(message: str) -> None:
    """A message for the person running the benchmark, on stderr."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- drivers -----------------------------------------------------------------------------


class DriverError(RuntimeError):
    """A driver failed a job or died."""


class Driver:
    """A long-lived ``driver.py`` process speaking JSON lines."""

    def __init__(self, name: str, python: str, impl: str) -> None:
        self.name = name
        self.python = python
        self.impl = impl
        self.log = (ROOT / ".bench" / f"driver-{name}.log").open("wb")
        self.proc: subprocess.Popen[str] | None = None
        self.job_id = 0
        self.start()
        self.info: dict[str, Any] = self.ask({"op": "hello"}, timeout=120)

    def start(self) -> None:
        env = dict(os.environ)
        if self.name == "ref":
            env.pop("PYTHONPATH", None)  # never let our tree shadow the reference
        self.proc = subprocess.Popen(
            [self.python, str(HERE / "driver.py"), "--impl", self.impl],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
            env=env,
            cwd=str(HERE),
        )

    def send(self, job: dict[str, Any]) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        if self.proc.poll() is not None:
            self.start()
        self.job_id += 1
        self.proc.stdin.write(json.dumps({**job, "id": self.job_id}) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next reply to the last job sent (a late reply to an earlier one is dropped)."""
        assert self.proc is not None
        stdout = self.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            box: list[str] = []
            reader = threading.Thread(target=lambda b=box: b.append(stdout.readline()), daemon=True)
            reader.start()
            reader.join(max(deadline - time.monotonic(), 0.1))
            if not box or not box[0]:
                self.kill()  # a stuck or dead driver: the next job restarts it
                raise DriverError(f"{self.name} driver gave no answer within {timeout:.0f} s")
            reply: dict[str, Any] = json.loads(box[0])
            if reply.get("id") == self.job_id:
                return reply

    def ask(self, job: dict[str, Any], timeout: float = 180) -> Any:
        self.send(job)
        reply = self.receive(timeout)
        if not reply.get("ok"):
            raise DriverError(f"{self.name}: {reply.get('error')}")
        return reply["result"]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send({"op": "quit"})
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def ensure_reference_venv(path: Path) -> str | None:
    """The reference venv's Python, creating the venv once; None (with a note) on failure."""
    python = path / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import sinetstream, sinetstreamplugin.mqtt, sinetstreamplugin.kafka",
    ]
    if python.exists() and subprocess.run(check, check=False, capture_output=True).returncode == 0:
        return str(python)
    note(f"setting up the reference SINETStream {REF_VERSION} in {path} (once) ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *REF_PACKAGES],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(check, check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        note(f"reference venv unavailable ({exc}); the ref columns are skipped")
        return None
    return str(python)


# -- cases -------------------------------------------------------------------------------


@dataclass
class Case:
    """One thing measured for several implementations."""

    section: str  # codec, queue, mqtt, kafka
    mode: str  # encode, decode, sync, async, async-aes, reader, e2e-sync, ...
    size: int
    variant: str = ""  # codec name, or "qos0"/"qos1"
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: dict[str, Any] | None = None  # for MQTT readers: published while each reader reads
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        parts = [self.section, self.mode, self.variant, _report.size_label(self.size)]
        return " ".join(p for p in parts if p)


def v3_plain_frame(payload: bytes) -> bytes:
    """A SINETStream v3 plaintext message (facts §3.2-3.3), for feeding readers."""

    def varint(value: int) -> bytes:
        zz = (value << 1) ^ (value >> 63)
        out = bytearray()
        while True:
            byte = zz & 0x7F
            zz >>= 7
            if zz:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    avro = bytes.fromhex("c3011f9c0c91eb33664f") + varint(time.time_ns() // 1000)
    return bytes.fromhex("df0300000000") + avro + varint(len(payload)) + payload


def count_for(size: int, per_s: float, seconds: float, max_bytes: int = 128 << 20) -> int:
    """Messages for about ``seconds`` at ``per_s``, capped by bytes held in flight."""
    return max(50, min(int(per_s * seconds), max_bytes // max(size, 1)))


def codec_cases(duration: float) -> list[Case]:
    cases = []
    for name, params in CODECS.items():
        for size in SIZES:
            for direction in ("encode", "decode"):
                job = {
                    "op": "codec",
                    "direction": direction,
                    "params": params,
                    "size": size,
                    "kind": "text",
                    "duration": duration,
                }
                jobs = {"ours": job, "ref": job}
                if name != "plain":
                    jobs["raw"] = job  # the bare primitive: see _raw.RawImpl.codec
                cases.append(Case("codec", direction, size, name, jobs))
    return cases


def _perf_job(backend: str, size: int, async_api: bool, codec: str, per_s: float) -> dict[str, Any]:
    """A writer and a reader of ``backend`` in one process (the perftool round)."""
    topic = f"bench-{backend}-{uuid.uuid4().hex[:8]}"
    common = {"no_config": True, "type": backend, "consistency": "AT_LEAST_ONCE"}
    common.update(CODECS[codec])
    return {
        "op": "perf",
        "writer_params": {**common, "topic": topic},
        "reader_params": {**common, "topics": topic, "receive_timeout_ms": 2000},
        "size": size,
        "count": count_for(size, per_s, 1.0, 64 << 20),
        "async": async_api,
        # compressible text for compression, as the codec cases; random bytes otherwise
        "kind": "text" if CODECS[codec].get("data_compression") else "random",
    }


def queue_cases(duration: float) -> list[Case]:
    """The queue backend at every size, plain; and at 1 KiB with AES-GCM and gzip (issue 17).

    The gzip case also times the bare zlib round trip (compress and decompress
    the same payload), the ceiling of any pipeline around it.
    """
    cases = []
    for size in SIZES:
        for async_api in (False, True):
            job = _perf_job("queue", size, async_api, "plain", 100000)
            cases.append(Case("queue", "async" if async_api else "sync", size, "", {"ours": job}))
    for codec in ("aes-gcm-256", "gzip"):
        jobs = {"ours": _perf_job("queue", 1024, False, codec, 60000)}
        if codec == "gzip":
            jobs["raw"] = {
                "op": "roundtrip",
                "params": CODECS[codec],
                "size": 1024,
                "kind": "text",
                "duration": duration,
            }
        cases.append(Case("queue", "sync", 1024, codec, jobs))
    return cases


def plugin_cases() -> list[Case]:
    """A v1.2-guide plugin (``v12_queue.py``) through ours and through the reference (issue 17)."""
    cases = []
    sweep = [("plain", size) for size in SIZES] + [("aes-gcm-256", 1024), ("gzip", 1024)]
    for codec, size in sweep:
        job = _perf_job(V12_TYPE, size, False, codec, 60000)
        cases.append(Case("plugin", "sync", size, codec, {"ours": job, "ref": job}))
    return cases


def e2e_cases(backend: str, port: int, duration: float, variants: list[str]) -> list[Case]:
    """Writer and reader cases of one broker backend."""
    brokers = f"127.0.0.1:{port}"
    cases: list[Case] = []
    for variant in variants:
        consistency = "AT_MOST_ONCE" if variant == "qos0" else "AT_LEAST_ONCE"
        base = {"type": backend, "brokers": brokers, "consistency": consistency}
        sinet = {"no_config": True}
        if backend == "kafka":
            # Reference 1.10 hands type_spec to both client objects; keep it consumer-safe.
            reader_spec = {"auto_offset_reset": "earliest", "group_id": None}
        for size in SIZES:
            for mode in ("sync", "async", "async-aes", "reader"):
                topic = f"bench-{backend}-{mode}-{uuid.uuid4().hex[:8]}"
                if mode == "reader":
                    # MQTT: the persistent session's backlog, which the broker holds in
                    # memory (1500 x 64 KiB is about 100 MB).
                    if backend == "mqtt":
                        count = {100: 8000, 1024: 8000, 65536: 1500}[size]
                    else:
                        count = {100: 50000, 1024: 40000, 65536: 2000}[size]
                    params = {**base, "topics": topic, "receive_timeout_ms": 5000}
                    case = Case(backend, mode, size, variant)
                    case.feed = {
                        "op": "feed",
                        "params": {**base, "topic": topic},
                        "wire_hex": v3_plain_frame(os.urandom(size)).hex(),
                        "count": count,
                    }
                    for impl in IMPLS:
                        job_params = dict(params)
                        if impl != "raw":
                            job_params.update(sinet)
                        if backend == "kafka":
                            if impl != "raw":
                                job_params["type_spec"] = reader_spec
                        else:
                            # a persistent session and a topic per implementation: see run_case
                            job_params["client_id"] = f"bench-{impl}-{uuid.uuid4().hex[:8]}"
                            job_params["topics"] = f"{topic}-{impl}"
                            job_params["type_spec"] = {"clean_session": False}
                        case.jobs[impl] = {"op": "read", "count": count, "params": job_params}
                    cases.append(case)
                    continue
                async_api = mode != "sync"
                if async_api:
                    # paho cannot hold more than 65535 unacknowledged messages (message ids)
                    cap = 60000 if backend == "mqtt" else 200000
                    count = min(cap, count_for(size, 1e6, 1.0))
                else:
                    count = count_for(size, 1e6, 1.0)
                job = {
                    "op": "write",
                    "size": size,
                    "count": count,
                    "duration": duration,
                    "async": async_api,
                }
                case = Case(backend, mode, size, variant)
                params = {**base, "topic": topic}
                sparams = {**params, **sinet}
                if mode == "async-aes":
                    sparams.update(AES_GCM)
                else:
                    case.jobs["raw"] = {**job, "params": params}
                case.jobs["ours"] = case.jobs["ref"] = {**job, "params": sparams}
                cases.append(case)
    if backend == "kafka":
        cases.append(kafka_open_case(brokers))
    return cases


def kafka_open_case(brokers: str) -> Case:
    """How long a reader's ``open()`` takes, written as a new user would (no group, no
    type_spec), on a topic that holds a message. Ours returns with the start positions
    taken; the ref and the raw KafkaConsumer leave them to the first poll."""
    topic = f"bench-kafka-open-{uuid.uuid4().hex[:8]}"
    base = {"type": "kafka", "brokers": brokers, "consistency": "AT_LEAST_ONCE"}
    job = {
        "op": "open_reader",
        "size": 1024,
        "repeat": 5,
        "writer_params": {**base, "topic": topic},
        "params": {**base, "topics": topic},
    }
    sinet = {
        **job,
        "writer_params": {**base, "topic": topic, "no_config": True},
        "params": {**base, "topics": topic, "no_config": True},
    }
    return Case("kafka", "open", 1024, "", {"raw": job, "ours": sinet, "ref": sinet})


# -- running -----------------------------------------------------------------------------


def _expect_ready(driver: Driver) -> None:
    reply = driver.receive(60)
    if reply.get("event") != "ready":
        raise DriverError(f"{driver.name}: {reply.get('error')}")


def _expect_result(driver: Driver) -> Any:
    reply = driver.receive(180)
    if not reply.get("ok"):
        raise DriverError(f"{driver.name}: {reply.get('error')}")
    return reply["result"]


def run_case(case: Case, impl: str, driver: Driver, feeder: Driver | None) -> None:
    """Run one case for one implementation; readers get their input first.

    Kafka readers read a one-partition topic filled once, from the beginning.
    MQTT readers resume a persistent session that the broker filled while they
    were away (``prime`` subscribed for them), so both drain a backlog at their
    own pace, not at the pace of a live publisher.
    """
    job = case.jobs[impl]
    if case.feed is None:
        result = driver.ask(job)
    else:
        assert feeder is not None
        if case.section == "kafka":
            topic = case.feed["params"]["topic"]
            if "_filled" not in case.errors:
                feeder.ask({"op": "create_topic", "params": case.feed["params"], "topic": topic})
                feeder.ask(case.feed)
                case.errors["_filled"] = "yes"
        else:
            feeder.ask({"op": "prime", "params": job["params"]})
            own_topic = {**case.feed["params"], "topic": job["params"]["topics"]}
            feeder.ask({**case.feed, "params": own_topic})
            time.sleep(0.2)  # let the broker queue the last messages for the session
        driver.send(job)
        _expect_ready(driver)
        result = _expect_result(driver)
    case.results.setdefault(impl, []).append(result)


def _schedule(
    cases: list[Case], drivers: dict[str, Driver], rounds: int
) -> list[tuple[int, Case, str]]:
    """(round, case, impl) in run order: implementations rotate from case to case and round
    to round, so none always runs first (right after a broker warmed up) or last."""
    order = []
    for r in range(rounds):
        for i, case in enumerate(cases):
            impls = [impl for impl in IMPLS if impl in case.jobs and impl in drivers]
            shift = (r + i) % len(impls) if impls else 0
            order += [(r, case, impl) for impl in impls[shift:] + impls[:shift]]
    return order


def run_cases(
    cases: list[Case], drivers: dict[str, Driver], rounds: int, progress: Progress
) -> None:
    feeder = drivers.get("feeder")
    order = _schedule(cases, drivers, rounds)
    progress.plan([f"{case.key} [{impl}]" for _r, case, impl in order])
    for r, case, impl in order:
        key = f"{case.key} [{impl}]"
        progress.step(f"round {r + 1}/{rounds}: {key}", key)
        if impl in case.errors:
            continue
        try:
            run_case(case, impl, drivers[impl], feeder)
        except DriverError as exc:
            case.errors[impl] = str(exc)
            note(f"\n{key} failed: {exc}")
    for case in cases:
        case.errors.pop("_filled", None)


def ours_backends() -> tuple[set[str], str | None]:
    """The backend types our installed sinetstream offers, or why none can be used."""
    try:
        import sinetstream
        from sinetstream import _registry
    except ImportError as exc:
        return set(), f"sinetstream cannot be imported ({exc})"
    if not hasattr(sinetstream, "MessageWriter"):
        return set(), "sinetstream has no MessageWriter yet"
    return set(_registry.registry("writer").names()), None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 3)")
    parser.add_argument(
        "--sections", default="codec,queue,plugin,mqtt,kafka", help="comma-separated subset"
    )
    parser.add_argument(
        "--modes",
        default="sync,async,async-aes,reader,open",
        help="broker cases to run (comma-separated subset)",
    )
    parser.add_argument("--duration", type=float, default=0.8, help="seconds per writer run")
    parser.add_argument(
        "--codec-duration",
        type=float,
        default=0.5,
        help="seconds per codec run (the reference makes only ~2000 AES-GCM calls in 0.2 s)",
    )
    parser.add_argument("--ref-venv", type=Path, default=ROOT / ".bench" / "ref-1.10")
    parser.add_argument("--no-ref", action="store_true", help="skip the reference 1.10")
    parser.add_argument(
        "--baselines-anyway",
        action="store_true",
        help="run raw and ref for a backend even when our backend package is missing",
    )
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the report goes")
    parser.add_argument("--no-docs", action="store_true", help="print only; write no files")
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help=f"only rebuild the report from a saved run (e.g. {RESULTS.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    if args.from_results:
        return rerender(args.from_results, None if args.no_docs else args.docs)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    started = time.monotonic()
    (ROOT / ".bench").mkdir(exist_ok=True)

    backends, why_not = ours_backends()
    if why_not:
        note(f"ours: {why_not}; only the baselines can run")

    drivers: dict[str, Driver] = {}
    skipped: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if not why_not:
            drivers["ours"] = Driver("ours", sys.executable, "sinetstream")
            stack.callback(drivers["ours"].close)
        ref_python = None if args.no_ref else ensure_reference_venv(args.ref_venv)
        if ref_python:
            drivers["ref"] = Driver("ref", ref_python, "sinetstream")
            stack.callback(drivers["ref"].close)
        if {"mqtt", "kafka", "codec", "queue"} & set(sections):
            drivers["raw"] = Driver("raw", sys.executable, "raw")
            stack.callback(drivers["raw"].close)
        if {"mqtt", "kafka"} & set(sections):
            drivers["feeder"] = Driver("feeder", sys.executable, "raw")
            stack.callback(drivers["feeder"].close)

        all_cases: list[Case] = []
        for section in sections:
            if section == "codec":
                all_cases += codec_cases(args.codec_duration)
            elif section == "queue":
                if "queue" not in backends:
                    skipped["queue"] = "sinetstream-queue is not installed (or core not ready)"
                    continue
                all_cases += queue_cases(args.codec_duration)
            elif section == "plugin":
                all_cases += plugin_cases()
            elif section in ("mqtt", "kafka"):
                package = f"sinetstream-{section}"
                if section not in backends and not args.baselines_anyway:
                    skipped[section] = f"{package} is not installed (or not working yet)"
                    continue
                broker = _brokers.mosquitto if section == "mqtt" else _brokers.tansu
                try:
                    port = stack.enter_context(broker())
                except _brokers.BrokerUnavailable as exc:
                    skipped[section] = str(exc)
                    continue
                variants = ["qos0", "qos1"] if section == "mqtt" else [""]
                modes = {m.strip() for m in args.modes.split(",")}
                cases = [
                    c for c in e2e_cases(section, port, args.duration, variants) if c.mode in modes
                ]
                if section not in backends:
                    for case in cases:
                        case.jobs.pop("ours", None)
                    skipped[section] = f"{package} missing: raw and ref only"
                all_cases += cases
            else:
                parser.error(f"unknown section {section!r}")
        for section, why in skipped.items():
            note(f"section {section}: skipped - {why}")

        progress = Progress(len(_schedule(all_cases, drivers, args.rounds)))
        run_cases(all_cases, drivers, args.rounds, progress)
        progress.end_line()
        versions = {name: d.info for name, d in drivers.items() if name != "feeder"}

    elapsed = time.monotonic() - started
    env = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "versions": versions,
        "rounds": args.rounds,
        "elapsed_s": elapsed,
        "skipped": skipped,
    }
    raw_dump = {"env": env, "cases": [_report.case_dict(c) for c in all_cases]}
    RESULTS.write_text(json.dumps(raw_dump, indent=1))
    report(all_cases, env, None if args.no_docs else args.docs)
    note(f"benchmark finished in {_mmss(elapsed)}")
    return 0


def report(cases: list[Case], env: dict[str, Any], docs: Path | None) -> None:
    """Print the table and the target checks; write the page and plots into ``docs``."""
    summary = _report.summarize(cases)
    print(_report.text_table(summary))
    checks = _report.targets(summary)
    print(_report.text_targets(checks))
    if docs is not None:
        plots = _report.plots(summary, docs)
        _report.write_markdown(docs / "performance.md", summary, checks, env, plots)
        note(f"wrote {docs / 'performance.md'} and {len(plots)} plot(s)")


def rerender(path: Path, docs: Path | None) -> int:
    """Rebuild the report from a saved results file, without measuring again."""
    data = json.loads(path.read_text())
    cases = []
    for item in data["cases"]:
        case = Case(item["section"], item["mode"], item["size"], item["variant"])
        case.results = item["results"]
        case.errors = item["errors"]
        cases.append(case)
    report(cases, data["env"], docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
