"""The ``sinetstream`` JSON-lines commands through a real Mosquitto, run as subprocesses.

``read --json`` / ``write --json`` round trips, a copy between topics through a
pipe, ``record`` then ``replay`` with the timing kept, a killed recorder, an
encrypted recording replayed without the key, and text from stdin.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import Mosquitto

pytestmark = pytest.mark.mqtt

SCRIPT = Path(sys.executable).parent / "sinetstream"
KEY = ["data_encryption=true", "crypto.algorithm=AES", "crypto.mode=GCM",
       "crypto.password=cli-record-password"]  # fmt: skip


def service(broker: Mosquitto, topic: str | None = None) -> list[str]:
    """The command-line options of an MQTT service on the plain listener."""
    args = ["--no-config", "type=mqtt", f"brokers=127.0.0.1:{broker.ports['plain']}"]
    return args + ([f"topic={topic}"] if topic else [])


def cli(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the console script to its end."""
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )


class Running:
    """A command started in the background, past the stderr line that says it is reading."""

    def __init__(self, *args: str, cwd: Path, ready: str, stdout: Any = subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(
            [str(SCRIPT), *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE
        )
        assert self.proc.stderr is not None
        self.early = b""
        while ready.encode() not in self.early:
            line = self.proc.stderr.readline()
            assert line, f"{args[0]} ended before it was ready: {self.early.decode()}"
            self.early += line

    def finish(self, timeout: float = 30) -> tuple[bytes, str]:
        """Wait for the end; stdout and all of stderr. The exit status must be 0."""
        out, err = self.proc.communicate(timeout=timeout)
        stderr = (self.early + err).decode()
        assert self.proc.returncode == 0, stderr
        return out or b"", stderr


def reader(broker: Mosquitto, topic: str, cwd: Path, count: int, *extra: str) -> Running:
    """``read --json`` of ``count`` messages, subscribed when this returns."""
    args = ["read", *service(broker, topic), "--json", "-C", str(count), "--timeout", "15", "-v"]
    return Running(*args, *extra, cwd=cwd, ready="sinetstream: reading")


def lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def jsonl(*objects: dict[str, Any]) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objects).encode()


def test_json_round_trip_of_text_values(mosquitto: Mosquitto, topic: str, tmp_path: Path) -> None:
    texts = ["21.5", "héllo ✓", 'quote " and\nnewline', ""]
    read = reader(mosquitto, topic, tmp_path, len(texts), "-t")
    sent = cli("write", *service(mosquitto, topic), "-t", "--json", cwd=tmp_path,
               stdin=jsonl(*({"value": t} for t in texts)))  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    got = lines(read.finish()[0])
    assert [g["value"] for g in got] == texts
    before = time.time_ns() // 1000
    for g in got:
        assert g["topic"] == topic
        assert 0 < g["timestamp_us"] <= g["received_us"] <= before
        assert g["timestamp"].endswith("Z")
        assert (g["qos"], g["retain"]) == (0, False)


def test_json_round_trip_of_binary_values(mosquitto: Mosquitto, topic: str, tmp_path: Path) -> None:
    blobs = [bytes(range(256)), b"\x00", "é".encode("latin-1")]
    read = reader(mosquitto, topic, tmp_path, len(blobs) + 1)
    source = jsonl(*({"value_b64": base64.b64encode(b).decode()} for b in blobs), {"value": "t"})
    sent = cli("write", *service(mosquitto, topic), "--json", cwd=tmp_path, stdin=source)
    assert sent.returncode == 0, sent.stderr
    got = lines(read.finish()[0])
    # A byte_array reader gives bytes: base64 always, text or not.
    assert [base64.b64decode(g["value_b64"]) for g in got] == [*blobs, b"t"]
    assert all("value" not in g for g in got)


def test_format_template_and_lines_to_their_own_topics(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    a, b = f"{topic}/a", f"{topic}/b"
    read = Running("read", *service(mosquitto), f"topics=[{a}, {b}]", "-t", "-C", "3", "-v",
                   "--format", "{topic}|{value}|{qos}", cwd=tmp_path, ready="reading")  # fmt: skip
    source = jsonl(
        {"topic": a, "value": "1"}, {"topic": b, "value": "2"}, {"topic": a, "value": "3"}
    )
    sent = cli("write", *service(mosquitto), "--json", "-t", cwd=tmp_path, stdin=source)
    assert sent.returncode == 0, sent.stderr
    out = read.finish()[0].decode().splitlines()
    assert sorted(out) == sorted([f"{a}|1|0", f"{b}|2|0", f"{a}|3|0"])


def test_read_json_piped_into_write_json_copies_a_stream(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    source, copy = f"{topic}/source", f"{topic}/copy"
    final = reader(mosquitto, copy, tmp_path, 3)
    pipe_read = Running(
        "read", *service(mosquitto, source), "--json", "-C", "3", "-v", cwd=tmp_path,
        ready="reading",
    )  # fmt: skip
    pipe_write = subprocess.Popen(
        [str(SCRIPT), "write", *service(mosquitto, copy), "--json"],
        cwd=tmp_path, stdin=pipe_read.proc.stdout, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert pipe_read.proc.stdout is not None
    pipe_read.proc.stdout.close()  # the writer holds the pipe now
    values = [b"\x01\x02", b"plain", bytes(range(200, 256))]
    for value in values:
        (tmp_path / "v").write_bytes(value)
        sent = cli("write", *service(mosquitto, source), "-f", "v", cwd=tmp_path)
        assert sent.returncode == 0, sent.stderr
    pipe_read.finish()
    _, write_err = pipe_write.communicate(timeout=30)
    assert pipe_write.returncode == 0, write_err
    got = lines(final.finish()[0])
    assert [base64.b64decode(g["value_b64"]) for g in got] == values
    assert {g["topic"] for g in got} == {copy}


def _plan(path: Path, gaps_ms: list[int]) -> list[float]:
    """A recording of messages ``gaps_ms`` apart; their offsets from the first, in seconds."""
    t = 1_796_000_000_000_000
    offsets = [0.0]
    entries = [{"value": "m0", "timestamp_us": t}]
    for i, gap in enumerate(gaps_ms, 1):
        t += gap * 1000
        offsets.append(offsets[-1] + gap / 1000)
        entries.append({"value": f"m{i}", "timestamp_us": t})
    path.write_bytes(jsonl(*entries))
    return offsets


def test_record_then_replay_keeps_the_timing(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    """50 messages over 2 s with uneven gaps, recorded live, replayed at --speed 1."""
    live, again = f"{topic}/live", f"{topic}/again"
    gaps = [10, 25, 40, 80, 60, 35, 20, 70, 15, 45] * 5
    offsets = _plan(tmp_path / "plan.jsonl", gaps[:49])  # 49 gaps between 50 messages
    span = offsets[-1]
    assert 1.9 < span < 2.2
    recorder = Running("record", *service(mosquitto, live), "-t", "-o", "rec.jsonl", "-C", "50",
                       "--timeout", "15", cwd=tmp_path, ready="recording")  # fmt: skip
    played = cli("replay", *service(mosquitto, live), "-t", "plan.jsonl", cwd=tmp_path)
    assert played.returncode == 0, played.stderr
    assert "recorded 50 messages" in recorder.finish()[1]
    header, *recorded = lines((tmp_path / "rec.jsonl").read_bytes())
    assert header["sinetstream_recording"] == 1
    assert (header["type"], header["topics"], header["encrypted"]) == ("mqtt", [live], False)
    assert [r["value"] for r in recorded] == [f"m{i}" for i in range(50)]

    read = reader(mosquitto, again, tmp_path, 50, "-t")
    replayed = cli("replay", *service(mosquitto, again), "-t", "rec.jsonl", "--speed", "1",
                   cwd=tmp_path)  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith(b"replayed 50 messages")
    got = lines(read.finish()[0])
    assert [g["value"] for g in got] == [f"m{i}" for i in range(50)]
    first = got[0]["received_us"]
    arrived = [(g["received_us"] - first) / 1e6 for g in got]
    # Within 10 % of the 2 s span: the whole, and every message's place in it.
    assert abs(arrived[-1] - span) < 0.1 * span
    assert max(abs(a - o) for a, o in zip(arrived, offsets, strict=True)) < 0.1 * span


def _lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_a_killed_recorder_leaves_whole_lines(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    """Every message is on disk as soon as it is recorded; a kill cuts at most the last line."""
    recorder = Running("record", *service(mosquitto, topic), "-t", "-o", "rec.jsonl",
                       cwd=tmp_path, ready="recording")  # fmt: skip
    rec = tmp_path / "rec.jsonl"
    (tmp_path / "few.jsonl").write_bytes(jsonl(*({"value": f"early {i}"} for i in range(300))))
    fed = cli("replay", *service(mosquitto, topic), "few.jsonl", "--speed", "max", cwd=tmp_path)
    assert fed.returncode == 0, fed.stderr
    deadline = time.monotonic() + 10
    while _lines_in(rec) < 301 and time.monotonic() < deadline:  # the header and 300 messages
        time.sleep(0.01)
    assert _lines_in(rec) == 301, "recorded messages were not flushed"

    many = jsonl(*({"value": f"message {i} " + "x" * 500} for i in range(5000)))
    (tmp_path / "many.jsonl").write_bytes(many)
    feeder = subprocess.Popen(
        [str(SCRIPT), "replay", *service(mosquitto, topic), "many.jsonl", "--speed", "max"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while rec.stat().st_size < 300_000 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(recorder.proc.pid, signal.SIGKILL)  # in the middle of the stream
    recorder.proc.communicate(timeout=10)
    feeder.wait(30)
    data = rec.read_bytes()
    header, *recorded = lines(data[: data.rfind(b"\n") + 1])
    assert header["sinetstream_recording"] == 1
    assert len(recorded) > 300
    replayed = cli("replay", *service(mosquitto, f"{topic}/again"), "rec.jsonl", "--speed", "max",
                   cwd=tmp_path)  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith(f"replayed {len(recorded)} messages".encode())


def test_an_encrypted_recording_is_replayed_without_the_key(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    source, target = f"{topic}/sealed", f"{topic}/forwarded"
    sealed = Running("record", *service(mosquitto, source), *KEY, "-t", "-o", "sealed.jsonl",
                     "-C", "2", "--timeout", "15", cwd=tmp_path, ready="recording")  # fmt: skip
    opened = Running("record", *service(mosquitto, source), *KEY, "-t", "-o", "open.jsonl",
                     "-C", "2", "--timeout", "15", "--decrypted", cwd=tmp_path,
                     ready="recording")  # fmt: skip
    for value in ("first value", "second value"):
        sent = cli("write", *service(mosquitto, source), *KEY, "-m", value, cwd=tmp_path)
        assert sent.returncode == 0, sent.stderr
    assert "(encrypted)" in sealed.finish()[1]
    opened.finish()
    text = (tmp_path / "sealed.jsonl").read_text()
    assert "value" not in text.replace('"value_type"', "")  # no value, in clear or not
    assert "password" not in text
    header, *recorded = lines(text.encode())
    assert (header["encrypted"], header["payload"]) == (True, "wire_b64")
    assert all(set(r) >= {"wire_b64", "received_us"} and "value" not in r for r in recorded)
    _, *decrypted = lines((tmp_path / "open.jsonl").read_bytes())
    assert [d["value"] for d in decrypted] == ["first value", "second value"]

    read = reader(mosquitto, target, tmp_path, 2, *KEY, "-t")
    # The replaying service says it encrypts but has no password: not needed to forward.
    keyless = ["data_encryption=true", "crypto.algorithm=AES", "crypto.mode=GCM"]
    replayed = cli("replay", *service(mosquitto, target), *keyless, "sealed.jsonl", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    got = lines(read.finish()[0])
    assert [g["value"] for g in got] == ["first value", "second value"]
    # The writer's timestamps travelled sealed in the messages.
    assert [g["timestamp_us"] for g in got] == [d["timestamp_us"] for d in decrypted]


def test_stdin_to_a_text_service_arrives_as_text(
    mosquitto: Mosquitto, topic: str, tmp_path: Path
) -> None:
    port = mosquitto.ports["plain"]
    (tmp_path / "svc.yml").write_text(
        f"header:\n  version: 3\nconfig:\n  sensors:\n    type: mqtt\n"
        f"    brokers: 127.0.0.1:{port}\n    topic: {topic}\n    value_type: text\n"
    )
    sensors = ["-s", "sensors", "--config-file", "svc.yml"]
    read = Running("read", *sensors, "--json", "-C", "1", "-v", cwd=tmp_path, ready="reading")
    sent = cli("write", *sensors, cwd=tmp_path, stdin=b"21.5 \xc2\xb0C\n")
    assert sent.returncode == 0, sent.stderr
    (got,) = lines(read.finish()[0])
    assert got["value"] == "21.5 °C\n"
