"""The ``sinetstream`` console script, run for real in a subprocess.

Against the embedded queue backend (no broker) and a private Mosquitto started
on a free loopback port (marker ``mqtt``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).parent / "sinetstream"


def run(
    *args: str, cwd: Path, stdin_data: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the console script; text output."""
    assert SCRIPT.exists(), f"console script missing: pip install -e the core ({SCRIPT})"
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        input=stdin_data.decode() if stdin_data is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env_home(workdir: Path) -> Path:
    """A working directory with no config file anywhere (HOME is empty too)."""
    return workdir


# --- no broker ------------------------------------------------------------------------------


def test_help_lists_commands_and_exit_codes(env_home: Path) -> None:
    result = run("--help", cwd=env_home)
    assert result.returncode == 0
    for command in ("write", "read", "ping", "perf", "info", "config"):
        assert command in result.stdout
    assert "130" in result.stdout
    assert "usage or configuration error" in result.stdout


def test_no_command_prints_help_and_exits_2(env_home: Path) -> None:
    result = run(cwd=env_home)
    assert result.returncode == 2
    assert "COMMAND" in result.stdout


def test_version_from_script_and_module(env_home: Path) -> None:
    from sinetstream import __version__

    assert run("--version", cwd=env_home).stdout.strip() == f"sinetstream {__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "sinetstream", "--version"],
        cwd=env_home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert module.returncode == 0
    assert __version__ in module.stdout


def test_import_sinetstream_does_not_load_the_cli(env_home: Path) -> None:
    code = "import sys, sinetstream; print('sinetstream._cli' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=env_home, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_perf_without_config_runs_on_the_queue_and_prints_a_table(env_home: Path) -> None:
    result = run("perf", "-n", "2000", "-p", "256", cwd=env_home)
    assert result.returncode == 0, result.stderr
    assert "embedded queue backend" in result.stderr
    lines = result.stdout.splitlines()
    assert "2,000 messages of 256 bytes" in lines[0]
    header = next(line for line in lines if line.split() == ["writer", "reader"])
    assert header
    messages = next(line for line in lines if line.startswith("messages "))
    assert messages.split()[1:] == ["2,000", "2,000"]
    errors = next(line for line in lines if line.startswith("errors"))
    assert errors.split()[1:] == ["0", "0"]
    rate = next(line for line in lines if line.startswith("messages/s"))
    assert all(float(v.replace(",", "")) > 0 for v in rate.split()[1:])
    assert "written" not in result.stderr  # no progress display when stderr is not a terminal


def test_perf_shows_a_live_rate_on_a_terminal(env_home: Path, on_terminal: Any) -> None:
    argv = [str(SCRIPT), "perf", "-n", "60000", "-p", "64", "-f", "json"]
    status, out, seen = on_terminal(argv, env_home)
    assert status == 0
    assert json.loads(out)["reader"]["msg_count_total"] == 60000
    assert b"\r" in seen
    assert b"written" in seen
    assert b"msg/s" in seen


def test_perf_json_rounds_carry_the_metrics_of_both_sides(env_home: Path) -> None:
    result = run("perf", "-n", "300", "-p", "100", "-R", "2", "-f", "json", cwd=env_home)
    assert result.returncode == 0, result.stderr
    rounds = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rounds) == 2
    for record in rounds:
        for side in ("writer", "reader"):
            metrics = record[side]
            assert metrics["msg_count_total"] == 300
            assert metrics["error_count_total"] == 0
            assert metrics["msg_size_min"] == metrics["msg_size_max"] > 100
            assert metrics["msg_count_rate"] > 0


def test_perf_tsv_and_async_api(env_home: Path) -> None:
    result = run("perf", "-a", "-n", "200", "-R", "3", "-f", "tsv", cwd=env_home)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    columns = header.split("\t")
    assert "writer_msg_count_total" in columns
    assert "reader_msg_count_rate" in columns
    assert len(rows) == 3
    for row in rows:
        values = dict(zip(columns, row.split("\t"), strict=True))
        assert values["writer_msg_count_total"] == values["reader_msg_count_total"] == "200"


def test_dotted_yaml_overrides_reach_the_writer(env_home: Path) -> None:
    """AES-GCM with 8-byte salt, 16-byte nonce and 16-byte tag adds 40 bytes a message."""
    plain = run("perf", "-n", "20", "-p", "64", "-f", "json", cwd=env_home)
    crypt = run(
        "perf",
        "-n",
        "20",
        "-p",
        "64",
        "-f",
        "json",
        "--no-config",
        "type=queue",
        "data_encryption=true",
        "crypto.algorithm=AES",
        "crypto.mode=GCM",
        "crypto.key_length=256",
        "crypto.password=cli-test-password",
        cwd=env_home,
    )
    assert plain.returncode == crypt.returncode == 0, crypt.stderr
    size_plain = json.loads(plain.stdout)["writer"]["msg_size_min"]
    size_crypt = json.loads(crypt.stdout)["writer"]["msg_size_min"]
    assert size_crypt == size_plain + 40


def test_service_from_a_config_file(env_home: Path) -> None:
    (env_home / "svc.yml").write_text(
        "header:\n  version: 3\nconfig:\n  bench:\n    type: queue\n    topic: cli-svc\n"
    )
    result = run("perf", "-s", "bench", "--config-file", "svc.yml", "-n", "50", cwd=env_home)
    assert result.returncode == 0, result.stderr
    assert "service bench" in result.stdout
    assert "embedded queue backend" not in result.stderr


def test_info_lists_backends_value_types_and_compressions(env_home: Path) -> None:
    result = run("info", "--json", cwd=env_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    queue = {p["name"]: p for p in data["plugins"]["reader"]}["queue"]
    assert queue["distribution"] == "sinetstream-queue"
    assert queue["version"]
    assert {"text", "byte_array"} <= {p["name"] for p in data["plugins"]["value_type"]}
    assert {"gzip", "zstd"} <= {p["name"] for p in data["plugins"]["compression"]}
    text = run("info", cwd=env_home)
    assert "queue" in text.stdout
    assert "sinetstream-queue" in text.stdout


def test_config_check_accepts_a_good_file(env_home: Path) -> None:
    (env_home / ".sinetstream_config.yml").write_text(
        "header:\n  version: 3\nconfig:\n  ok:\n    type: queue\n    topic: t\n"
    )
    result = run("config", "check", cwd=env_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout


def test_config_check_names_file_service_and_key(env_home: Path) -> None:
    bad = env_home / "bad.yml"
    bad.write_text(
        "header:\n  version: 3\nconfig:\n  svc:\n    type: nosuch\n    consistency: SOMETIMES\n"
    )
    result = run("config", "check", str(bad), cwd=env_home)
    assert result.returncode == 2
    problems = result.stdout.splitlines()
    assert len(problems) == 2
    assert all(str(bad) in p and "svc" in p for p in problems)
    assert any("consistency" in p for p in problems)
    assert any("type" in p and "nosuch" in p for p in problems)


def test_config_check_without_any_file_is_a_usage_error(env_home: Path) -> None:
    result = run("config", "check", cwd=env_home)
    assert result.returncode == 2
    assert "no config file found" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["write", "--no-config", "type=queue", "notkeyvalue", "-m", "x"], "KEY=VALUE"),
        (["write", "--no-config", "type=queue", "a..b=1", "-m", "x"], "KEY=VALUE"),
        (["write", "--no-config", "type=nosuch", "topic=t", "-m", "x"], "nosuch"),
        (["write", "-m", "x"], "config"),
        (["read", "--no-config", "type=queue", "topic=t", "-C", "0"], "--count"),
    ],
)
def test_usage_and_config_errors_exit_2(env_home: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=env_home)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_read_timing_out_before_count_exits_3(env_home: Path) -> None:
    result = run(
        "read", "--no-config", "type=queue", "topic=t", "-C", "1", "--timeout", "0.3", cwd=env_home
    )
    assert result.returncode == 3
    assert "received 0 of 1" in result.stderr


def test_ping_on_the_queue(env_home: Path) -> None:
    result = run("ping", "-C", "3", "-i", "0", cwd=env_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("seq=") == 3
    assert "3 sent, 3 received, 0% lost" in result.stdout
    assert "latency min/avg/p50/p99/max" in result.stdout


def test_interrupt_exits_130(env_home: Path) -> None:
    proc = subprocess.Popen(
        [str(SCRIPT), "read", "--no-config", "type=queue", "topic=t"],
        cwd=env_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let it import and open the reader
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


# --- Mosquitto ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Mosquitto on a free loopback port; yields ``host:port``."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
    workdir = tmp_path_factory.mktemp("mosquitto")
    workdir.chmod(0o755)  # mosquitto started as root reads its files as user mosquitto
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        "persistence false\n"
    )
    conf.chmod(0o644)
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mosquitto did not start")
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _mqtt(broker: str, topic: str) -> list[str]:
    return ["--no-config", "type=mqtt", f"brokers={broker}", f"topic={topic}"]


def _feed_until_done(
    reader: subprocess.Popen[bytes], broker: str, topic: str, cwd: Path, *write_args: str
) -> None:
    """Publish again and again until the reader exits: MQTT keeps nothing for late subscribers."""
    deadline = time.monotonic() + 20
    while reader.poll() is None and time.monotonic() < deadline:
        result = run("write", *_mqtt(broker, topic), *write_args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        time.sleep(0.1)


@pytest.mark.mqtt
def test_write_lines_and_read_them_through_mosquitto(mosquitto: str, env_home: Path) -> None:
    topic = "cli/lines"
    reader = subprocess.Popen(
        [str(SCRIPT), "read", *_mqtt(mosquitto, topic), "-t", "-r", "-C", "3", "--timeout", "20"],
        cwd=env_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdin = "first\nsecond\r\nthird\n"
    deadline = time.monotonic() + 20
    while reader.poll() is None and time.monotonic() < deadline:
        result = run(
            "write", *_mqtt(mosquitto, topic), "-l", cwd=env_home, stdin_data=stdin.encode()
        )
        assert result.returncode == 0, result.stderr
        time.sleep(0.2)
    out, err = reader.communicate(timeout=20)
    assert reader.returncode == 0, err
    lines = out.decode().splitlines()
    assert len(lines) == 3
    # the reader may have subscribed in the middle of a batch: any 3 consecutive lines
    cycle = ["first", "second", "third"]
    start = cycle.index(lines[0])
    assert lines == [cycle[(start + i) % 3] for i in range(3)]


@pytest.mark.mqtt
def test_write_a_binary_file_and_save_it_through_mosquitto(mosquitto: str, env_home: Path) -> None:
    topic = "cli/file"
    data = bytes(range(256)) * 40
    (env_home / "blob.bin").write_bytes(data)
    saved = env_home / "saved"
    reader = subprocess.Popen(
        [str(SCRIPT), "read", *_mqtt(mosquitto, topic), "-f", str(saved), "-C", "1"],
        cwd=env_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _feed_until_done(reader, mosquitto, topic, env_home, "-f", "blob.bin")
    _out, err = reader.communicate(timeout=20)
    assert reader.returncode == 0, err
    files = list(saved.iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("cli%2Ffile-")
    assert files[0].read_bytes() == data


@pytest.mark.mqtt
def test_read_prints_headers_with_the_topic(mosquitto: str, env_home: Path) -> None:
    topic = "cli/headers"
    reader = subprocess.Popen(
        [str(SCRIPT), "read", *_mqtt(mosquitto, topic), "-C", "1"],
        cwd=env_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _feed_until_done(reader, mosquitto, topic, env_home, "-m", "héllo")
    out, err = reader.communicate(timeout=20)
    assert reader.returncode == 0, err
    assert out.decode() == '[#1] Received on "cli/headers"\nhéllo\n'


@pytest.mark.mqtt
def test_ping_through_mosquitto(mosquitto: str, env_home: Path) -> None:
    result = run(
        "ping",
        "--no-config",
        "type=mqtt",
        f"brokers={mosquitto}",
        "-C",
        "3",
        "-i",
        "0.05",
        cwd=env_home,
    )
    assert result.returncode == 0, result.stderr
    assert "3 sent, 3 received, 0% lost" in result.stdout


@pytest.mark.mqtt
def test_perf_through_mosquitto_at_qos1(mosquitto: str, env_home: Path) -> None:
    result = run(
        "perf",
        *_mqtt(mosquitto, "cli/perf"),
        "consistency=AT_LEAST_ONCE",
        "-n",
        "500",
        "-f",
        "json",
        cwd=env_home,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["writer"]["msg_count_total"] == record["reader"]["msg_count_total"] == 500


@pytest.mark.mqtt
def test_unreachable_broker_exits_1(env_home: Path) -> None:
    port = _free_port()  # nothing listens there
    result = run(
        "write",
        "--no-config",
        "type=mqtt",
        f"brokers=127.0.0.1:{port}",
        "topic=t",
        "-m",
        "x",
        cwd=env_home,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


# --- the workload behind `perf`, shared with benchmarks/run.py ------------------------------


def test_workload_percentile_and_payloads() -> None:
    import zlib

    from sinetstream import _workload

    assert _workload.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert _workload.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert _workload.percentile([], 50) != _workload.percentile([], 50)  # NaN
    text = _workload.make_payload(4096, "text")
    noise = _workload.make_payload(4096)
    assert len(text) == len(noise) == 4096
    assert len(zlib.compress(text)) < len(text) // 3
    assert len(zlib.compress(noise)) > len(noise)


def test_workload_loads_by_path_with_the_standard_library_only() -> None:
    """benchmarks/driver.py loads the package by path beside the reference 1.10."""
    from sinetstream import _workload

    directory = Path(_workload.__file__).parent
    code = (
        "import importlib.util, sys\n"
        "sys.modules['sinetstream'] = None\n"
        f"spec = importlib.util.spec_from_file_location('wl', {str(directory / '__init__.py')!r},"
        f" submodule_search_locations=[{str(directory)!r}])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['wl'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(' '.join(module.__all__), module.percentile([1.0, 2.0, 3.0], 50))\n"
    )
    # -S: no site-packages, so any import beyond the standard library fails.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    *names, median = result.stdout.split()
    assert names == _workload.__all__
    assert median == "2.0"


def test_workload_codec_and_queue_loops(broker_name: str) -> None:
    import sinetstream
    from sinetstream import _workload

    payload = _workload.make_payload(256, "text")
    gcm = {
        "data_encryption": True,
        "crypto": {"algorithm": "AES", "mode": "GCM", "password": "workload-test"},
    }
    for direction in (_workload.codec_encode, _workload.codec_decode):
        m = direction(sinetstream, gcm, payload, duration=0.05)
        assert m.count >= 64
        assert m.nbytes == m.count * len(payload)
        assert m.msgs_per_s > 0

    common = {"no_config": True, "type": "queue", "brokers": broker_name}
    received: list[_workload.Measurement] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=lambda: received.append(
            _workload.read_messages(
                sinetstream,
                {**common, "topics": "w", "receive_timeout_ms": 2000},
                count=500,
                on_ready=ready.set,
            )
        )
    )
    reader.start()
    assert ready.wait(10)
    written = _workload.write_messages(
        sinetstream, {**common, "topic": "w"}, payload, count=500, async_api=True
    )
    reader.join(20)
    assert written.count == 500
    assert written.errors == 0
    assert received[0].count == 500
    assert received[0].nbytes == 500 * len(payload)
    sync = _workload.write_messages(sinetstream, {**common, "topic": "x"}, payload, count=50)
    assert len(sync.latencies) == 50
    assert {"p50_ms", "p99_ms"} <= set(sync.as_dict())
