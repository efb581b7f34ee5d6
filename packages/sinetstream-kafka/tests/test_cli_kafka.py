"""The ``sinetstream`` JSON-lines commands through a real Tansu broker, run as subprocesses.

Kafka keeps what was published, so each command runs to its end before the
next starts: readers begin at the oldest message of their fresh topic.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sinetstream import MessageWriter

pytestmark = pytest.mark.kafka

SCRIPT = Path(sys.executable).parent / "sinetstream"
KEY = ["data_encryption=true", "crypto.algorithm=AES", "crypto.mode=GCM",
       "crypto.password=cli-kafka-password"]  # fmt: skip


def service(bootstrap: str, topic: str) -> list[str]:
    """Options of a Kafka service whose readers start at the oldest message, in no group."""
    return ["--no-config", "type=kafka", f"brokers={bootstrap}", f"topic={topic}",
            "type_spec.auto_offset_reset=earliest", "type_spec.group_id=null"]  # fmt: skip


def cli(*args: str, cwd: Path, stdin: bytes = b"") -> bytes:
    """Run the console script to its end; its stdout. The exit status must be 0."""
    result = subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def read_json(bootstrap: str, topic: str, count: int, cwd: Path, *extra: str) -> list[Any]:
    out = cli("read", *service(bootstrap, topic), *extra, "--json", "-C", str(count),
              "--timeout", "20", cwd=cwd)  # fmt: skip
    return [json.loads(line) for line in out.decode().splitlines()]


def jsonl(*objects: dict[str, Any]) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objects).encode()


def test_json_lines_carry_what_kafka_knows(tansu: str, make_topic: Any, tmp_path: Path) -> None:
    topic = make_topic(tansu)
    with MessageWriter(None, topic, no_config=True, type="kafka", brokers=tansu) as writer:
        writer.publish(b"\x00\xff", key=b"sensor-7", headers=[("unit", b"celsius")])
        writer.publish(b"text as bytes")
    first, second = read_json(tansu, topic, 2, tmp_path)
    assert first["topic"] == topic
    assert base64.b64decode(first["value_b64"]) == b"\x00\xff"
    assert (first["key"], first["partition"], first["offset"]) == ("sensor-7", 0, 0)
    assert first["headers"] == [{"key": "unit", "value": "celsius"}]
    assert first["timestamp_us"] <= first["received_us"]
    assert second["offset"] == 1
    assert "key" not in second
    assert "headers" not in second
    assert "qos" not in second


def test_json_round_trip_of_text_and_binary_values(
    tansu: str, make_topic: Any, tmp_path: Path
) -> None:
    text_topic, bytes_topic = make_topic(tansu), make_topic(tansu)
    texts = ["21.5", "héllo ✓", "two\nlines"]
    cli("write", *service(tansu, text_topic), "-t", "--json", cwd=tmp_path,
        stdin=jsonl(*({"value": t} for t in texts)))  # fmt: skip
    assert [g["value"] for g in read_json(tansu, text_topic, 3, tmp_path, "-t")] == texts
    blobs = [bytes(range(256)), b"", b"\xc3("]
    cli("write", *service(tansu, bytes_topic), "--json", cwd=tmp_path,
        stdin=jsonl(*({"value_b64": base64.b64encode(b).decode()} for b in blobs)))  # fmt: skip
    got = read_json(tansu, bytes_topic, 3, tmp_path)
    assert [base64.b64decode(g["value_b64"]) for g in got] == blobs


def test_an_encrypted_recording_is_replayed_without_the_key(
    tansu: str, make_topic: Any, tmp_path: Path
) -> None:
    source, target = make_topic(tansu), make_topic(tansu)
    for value in ("one", "two", "three"):
        cli("write", *service(tansu, source), *KEY, "-m", value, cwd=tmp_path)
    cli("record", *service(tansu, source), *KEY, "-o", "sealed.jsonl", "-C", "3",
        "--timeout", "20", cwd=tmp_path)  # fmt: skip
    text = (tmp_path / "sealed.jsonl").read_text()
    header, *recorded = (json.loads(line) for line in text.splitlines())
    assert (header["type"], header["topics"], header["encrypted"]) == ("kafka", [source], True)
    assert "password" not in text
    assert all("wire_b64" in r and "value" not in r for r in recorded)
    assert [r["offset"] for r in recorded] == [0, 1, 2]

    summary = cli("replay", *service(tansu, target), "sealed.jsonl", "--speed", "10x",
                  cwd=tmp_path)  # fmt: skip
    assert summary.startswith(b"replayed 3 messages")
    assert [g["value"] for g in read_json(tansu, target, 3, tmp_path, *KEY, "-t")] == [
        "one",
        "two",
        "three",
    ]
    # Without the key, the forwarded messages stay sealed.
    failed = subprocess.run(
        [str(SCRIPT), "read", *service(tansu, target), "-C", "1", "--timeout", "20"],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert b"encrypted" in failed.stderr
