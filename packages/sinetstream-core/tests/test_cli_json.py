"""The JSON-lines commands without a broker: the format, input errors, replay's pacing.

The console script runs for real in a subprocess, publishing to the embedded
queue backend (whose readers live in the same process, so nothing is read
back here: the broker tests of sinetstream-mqtt and sinetstream-kafka do that).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sinetstream import Message
from sinetstream._cli import jsonl
from sinetstream._cli.replay import parse_speed

SCRIPT = Path(sys.executable).parent / "sinetstream"
QUEUE = ["--no-config", "type=queue", "topic=cli-json"]


def cli(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run the console script with ``stdin``; text output."""
    result = subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


class _KafkaLikeRecord:
    """The attributes a Kafka ``ConsumerRecord`` has (kafka-python is not a core dependency)."""

    key = b"sensor-7"
    partition = 2
    offset = 41
    headers = (("unit", b"celsius"), ("blob", b"\xff\x00"))


# --- the format ---------------------------------------------------------------------------------


def test_rfc3339_is_exact_to_the_microsecond_in_utc() -> None:
    assert jsonl.rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert jsonl.rfc3339(1_796_590_537_123_456) == "2026-12-06T20:55:37.123456Z"
    assert jsonl.rfc3339(1_000_001) == "1970-01-01T00:00:01.000001Z"


def test_message_line_of_text_bytes_and_wire_values() -> None:
    text = jsonl.message_line(Message("21.5", "lab/t", 1_000_001, None), 1_000_900)
    assert text == {
        "topic": "lab/t",
        "timestamp": "1970-01-01T00:00:01.000001Z",
        "timestamp_us": 1_000_001,
        "received_us": 1_000_900,
        "value": "21.5",
    }
    binary = jsonl.message_line(Message(b"\x00\xff", "lab/b", 0, _KafkaLikeRecord()), 5)
    assert "timestamp" not in binary  # the writer sent none
    assert binary["value_b64"] == "AP8="
    assert binary["key"] == "sensor-7"
    assert (binary["partition"], binary["offset"]) == (2, 41)
    assert binary["headers"] == [
        {"key": "unit", "value": "celsius"},
        {"key": "blob", "value_b64": "/wA="},
    ]
    wire = jsonl.message_line(Message(b"\xdf\x03", "lab/e", 7, None), 9, wire=True)
    assert wire == {"topic": "lab/e", "received_us": 9, "wire_b64": "3wM="}


def test_lines_parse_back_into_entries() -> None:
    lines = [
        b'{"sinetstream_recording": 1, "type": "mqtt"}\n',
        b"\n",
        b'{"topic": "a", "value": "x", "timestamp_us": 5}\n',
        b'{"value_b64": "AP8=", "received_us": 7}\n',
        b'{"value": {"temp": 21.5}}\n',
        b'{"topic": "e", "wire_b64": "3wM="}\n',
    ]
    entries = list(jsonl.read_entries(lines, "rec"))
    assert [(e.where, e.topic, e.payload, e.wire) for e in entries] == [
        ("rec:3", "a", "x", False),
        ("rec:4", None, b"\x00\xff", False),
        ("rec:5", None, '{"temp": 21.5}', False),
        ("rec:6", "e", b"\xdf\x03", True),
    ]
    assert (entries[0].timestamp_us, entries[1].received_us) == (5, 7)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"value": "x", "value_b64": "AA=="}\n', "exactly one of"),
        (b'{"topic": "a"}\n', "exactly one of"),
        (b'{"value_b64": "not base64!"}\n', "not valid base64"),
        (b'{"value": "x", "topic": 3}\n', "topic must be"),
        (b'{"value": "x", "timestamp_us": "soon"}\n', "timestamp_us must be an integer"),
        (b'["value"]\n', "expected a JSON object"),
        (b'{"value": "x"\n', "not a UTF-8 JSON line"),
        (b'{"value": "\xff"}\n', "not a UTF-8 JSON line"),
    ],
)
def test_bad_lines_are_usage_errors_with_their_line_number(line: bytes, message: str) -> None:
    with pytest.raises(jsonl.UsageError, match=message) as info:
        list(jsonl.read_entries([b'{"value": "ok"}\n', line], "in"))
    assert str(info.value).startswith("in:2: ")


def test_an_incomplete_last_line_is_what_a_killed_recorder_leaves() -> None:
    lines = [b'{"value": "a"}\n', b'{"value": "b"}\n', b'{"value": "c", "top']
    assert [e.payload for e in jsonl.read_entries(lines, "rec")] == ["a", "b"]


def test_format_templates() -> None:
    line = jsonl.message_line(Message(b"caf\xc3\xa9", "t", 0, None), 1)
    assert jsonl.format_line("{topic} {value} [{qos}]", line) == "t café []"
    jsonl.check_template("{topic}\t{value_b64}")
    with pytest.raises(jsonl.UsageError, match="unknown field"):
        jsonl.check_template("{topic} {temperature}")


def test_parse_speed() -> None:
    assert parse_speed("1") == 1.0
    assert parse_speed("10x") == 10.0
    assert parse_speed("0.5") == 0.5
    assert parse_speed("max") is None
    for bad in ("0", "-2", "fast", "inf", "nan"):
        with pytest.raises(jsonl.UsageError, match="--speed"):
            parse_speed(bad)


# --- the commands, on the queue ------------------------------------------------------------------


def test_stdin_to_a_text_service_of_the_config_file_is_text(workdir: Path) -> None:
    (workdir / "svc.yml").write_text(
        "header:\n  version: 3\nconfig:\n  sensors:\n    type: queue\n    topic: s\n"
        "    value_type: text\n"
    )
    ok = cli("write", "-s", "sensors", "--config-file", "svc.yml", cwd=workdir, stdin=b"21.5\n")
    assert ok.returncode == 0, ok.stderr
    bad = cli("write", "-s", "sensors", "--config-file", "svc.yml", cwd=workdir, stdin=b"2\xb0C")
    assert bad.returncode == 2
    assert "standard input is not UTF-8 text (byte 1 is 0xb0)" in bad.stderr
    assert "value_type=byte_array" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_text_option_and_lines_name_the_bad_byte(workdir: Path) -> None:
    text = cli("write", *QUEUE, "-t", cwd=workdir, stdin=b"ok\xff")
    assert text.returncode == 2
    assert "byte 2 is 0xff" in text.stderr
    assert "-t makes the value text" in text.stderr
    lines = cli("write", *QUEUE, "-l", cwd=workdir, stdin=b"fine\nnot \xc3(\n")
    assert lines.returncode == 2
    assert "standard input line 2 is not UTF-8 text (byte 4 is 0xc3)" in lines.stderr
    assert "leave it out" in lines.stderr


def test_write_json_input_errors_exit_2(workdir: Path) -> None:
    no_topic = cli("write", "--json", "--no-config", "type=queue", cwd=workdir,
                   stdin=b'{"value": "a"}\n')  # fmt: skip
    assert no_topic.returncode == 2
    assert "stdin:1: the line has no topic" in no_topic.stderr
    broken = cli("write", "--json", *QUEUE, cwd=workdir, stdin=b'{"value": "a"}\n{oops\n')
    assert broken.returncode == 2
    assert "stdin:2: not a UTF-8 JSON line" in broken.stderr
    binary_to_text = cli("write", "--json", *QUEUE, "-t", cwd=workdir,
                         stdin=b'{"value_b64": "/w=="}\n')  # fmt: skip
    assert binary_to_text.returncode == 2
    assert "stdin:1: value_b64 is not UTF-8 text (byte 0 is 0xff)" in binary_to_text.stderr


def test_read_format_with_an_unknown_field_exits_2(workdir: Path) -> None:
    result = cli("read", *QUEUE, "--format", "{topic} {temp}", cwd=workdir)
    assert result.returncode == 2
    assert "unknown field(s) temp" in result.stderr


def test_record_does_not_overwrite_a_file_unless_forced(workdir: Path) -> None:
    (workdir / "rec.jsonl").write_text("precious\n")
    refused = cli("record", *QUEUE, "-o", "rec.jsonl", "--timeout", "0.1", cwd=workdir)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert (workdir / "rec.jsonl").read_text() == "precious\n"
    forced = cli("record", *QUEUE, "-o", "rec.jsonl", "--timeout", "0.1", "--force", cwd=workdir)
    assert forced.returncode == 0, forced.stderr
    (header,) = (json.loads(line) for line in (workdir / "rec.jsonl").read_text().splitlines())
    assert header["sinetstream_recording"] == 1
    assert header["type"] == "queue"
    assert header["topics"] == ["cli-json"]
    assert "recorded 0 messages" in forced.stderr


def test_replay_keeps_the_gaps_scaled_by_speed(workdir: Path) -> None:
    """Six messages 0.1 s apart: 0.5 s from first to last at --speed 1, 0.25 s at 2."""
    base = 1_796_000_000_000_000
    recording = workdir / "gaps.jsonl"
    recording.write_text(
        "".join(
            json.dumps({"value": f"m{i}", "timestamp_us": base + i * 100_000}) + "\n"
            for i in range(6)
        )
    )
    for speed, expected in (("1", 0.5), ("2x", 0.25), ("max", 0.0)):
        start = time.monotonic()
        result = cli("replay", *QUEUE, str(recording), "--speed", speed, cwd=workdir)
        wall = time.monotonic() - start
        assert result.returncode == 0, result.stderr
        summary = re.fullmatch(
            r"replayed 6 messages in (\S+) s at (.+?) \(recorded span 0\.500 s\); "
            r"behind schedule by (\S+) ms at most\n",
            result.stdout,
        )
        assert summary, result.stdout
        assert expected <= float(summary[1]) < expected + 0.05
        assert summary[2] == {"1": "1x", "2x": "2x", "max": "full speed"}[speed]
        assert wall > expected


def test_replay_of_a_cut_recording_and_loop_from_stdin(workdir: Path) -> None:
    cut = workdir / "cut.jsonl"
    cut.write_bytes(b'{"value": "a"}\n{"value": "b"}\n{"value": "c", "re')
    result = cli("replay", *QUEUE, str(cut), "--speed", "max", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "replayed 2 messages" in result.stdout
    assert "cut.jsonl:3: ignored an incomplete last line" in result.stderr
    loop = cli("replay", *QUEUE, "-", "--loop", cwd=workdir, stdin=b'{"value": "a"}\n')
    assert loop.returncode == 2
    assert "--loop needs a FILE" in loop.stderr


def test_overrides_may_come_after_options_and_around_the_replay_file(workdir: Path) -> None:
    mixed = cli("write", "--no-config", "type=queue", "-t", "topic=late", "-m", "hi", cwd=workdir)
    assert mixed.returncode == 0, mixed.stderr
    (workdir / "one.jsonl").write_text('{"value": "a"}\n')
    replay = cli("replay", "--no-config", "type=queue", "--speed", "max", "one.jsonl",
                 "topic=t", cwd=workdir)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1 messages" in replay.stdout
    two = cli("replay", *QUEUE, "one.jsonl", "other.jsonl", cwd=workdir)
    assert two.returncode == 2
    assert "replay takes one FILE" in two.stderr
    unknown = cli("write", *QUEUE, "-m", "x", "--bogus", cwd=workdir)
    assert unknown.returncode == 2
    assert "--bogus" in unknown.stderr


def test_replay_shows_progress_on_a_terminal_only(workdir: Path, on_terminal: Any) -> None:
    lines = (json.dumps({"value": "m", "timestamp_us": 1 + i * 100_000}) for i in range(8))
    (workdir / "gaps.jsonl").write_text("\n".join(lines) + "\n")
    status, out, seen = on_terminal([str(SCRIPT), "replay", *QUEUE, "gaps.jsonl"], workdir)
    assert status == 0
    assert out.startswith(b"replayed 8 messages")
    assert b"\r" in seen
    assert b"behind schedule by" in seen
    piped = cli("replay", *QUEUE, "gaps.jsonl", cwd=workdir)
    assert piped.stderr == ""


def test_ctrl_c_ends_a_recording_normally(workdir: Path) -> None:
    import signal

    proc = subprocess.Popen(
        [str(SCRIPT), "record", *QUEUE, "-o", "rec.jsonl", "-C", "5"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    assert "recording topic cli-json to rec.jsonl" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "recorded 0 messages" in err
    assert "Traceback" not in err
    (header,) = (workdir / "rec.jsonl").read_text().splitlines()
    assert json.loads(header)["sinetstream_recording"] == 1


def test_replay_loop_starts_over_until_ctrl_c(workdir: Path) -> None:
    import signal

    (workdir / "two.jsonl").write_text(
        '{"value": "a", "timestamp_us": 1000000}\n{"value": "b", "timestamp_us": 1100000}\n'
    )
    proc = subprocess.Popen(
        [str(SCRIPT), "replay", *QUEUE, "two.jsonl", "--loop"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(4.0)  # start-up (slow beside other test workers), then passes of 0.1 s each
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    summary = re.match(r"replayed (\d+) messages in (\d+) passes", out)
    assert summary, out
    assert int(summary[2]) >= 3
    assert int(summary[1]) in (2 * int(summary[2]) - 1, 2 * int(summary[2]))
