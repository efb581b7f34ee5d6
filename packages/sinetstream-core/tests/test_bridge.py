"""sinetstream.Bridge and ``sinetstream bridge`` over the in-process queue backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import sinetstream
import yaml
from sinetstream import (
    Bridge,
    InvalidArgumentError,
    InvalidMessageError,
    MessageReader,
    MessageWriter,
    SinetError,
)
from sinetstream._bridge._topic_map import TopicMap, parse_rule
from sinetstream._cli import main
from sinetstream_queue import QueueReader

# A bridge acknowledges its source only after the destination did (enable_manual_ack /
# ack, new in plugin SPI 1.1) and refuses a source without them. sinetstream-queue
# 1.0.0, which `nox -s matrix` runs this core's tests against, has neither.
queue_can_be_a_source = pytest.mark.skipif(
    not hasattr(QueueReader, "enable_manual_ack"),
    reason="sinetstream-queue < 1.1 has no manual acknowledgement: the bridge refuses it",
)

KEY_A = {"algorithm": "AES", "mode": "GCM", "key_length": 128, "password": "key-a"}
KEY_B = {"algorithm": "AES", "mode": "GCM", "key_length": 128, "password": "key-b"}


def _config(path: Path, broker: str, **services: dict[str, Any]) -> Path:
    body = {"header": {"version": 3}, "config": {}}
    for name, extra in services.items():
        service = {"type": "queue", "brokers": broker, **extra}
        spec = service.pop("type_spec", {})
        service["type_spec"] = {"brokers": broker, **spec}
        body["config"][name] = service
    path.write_text(yaml.safe_dump(body))
    return path


def _write(broker: str, topic: str, values: list[bytes], **kw: Any) -> None:
    with MessageWriter(None, topic, no_config=True, type="queue", brokers=broker, **kw) as w:
        for v in values:
            w.publish(v)


def _read(broker: str, topic: str, count: int, **kw: Any) -> list[Any]:
    got: list[Any] = []
    params = {"type": "queue", "brokers": broker, "receive_timeout_ms": 3000, **kw}
    with MessageReader(None, topic, no_config=True, **params) as r:
        for m in r:
            got.append(m)
            if len(got) >= count:
                break
    return got


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_bridge_is_exported() -> None:
    assert "Bridge" in sinetstream.__all__
    assert "BridgeMetrics" in sinetstream.__all__
    assert sinetstream.Bridge is Bridge


@queue_can_be_a_source
def test_passthrough_forwards_the_bytes_unchanged(workdir: Path, broker_name: str) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    values = [b"m%d" % i for i in range(50)]
    _write(broker_name, "in", values)
    with Bridge("src", "dst", config_file=str(cfg)) as bridge:
        assert bridge.mode == "passthrough"
        _wait(lambda: bridge.metrics.acknowledged == 50)
    got = _read(broker_name, "out", 50)
    assert [m.value for m in got] == values
    assert bridge.metrics.forwarded == 50
    assert bridge.metrics.in_flight == 0
    # The wire bytes are the source's: the writer's timestamps are kept.
    sent = _read(broker_name, "in", 1)
    assert sent == []  # acknowledged on the source: nothing left there


@queue_can_be_a_source
def test_passthrough_keeps_timestamps_and_wire_bytes(workdir: Path, broker_name: str) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    _write(broker_name, "in", [b"x"])
    with Bridge("src", "dst", config_file=str(cfg), mode="passthrough") as bridge:
        _wait(lambda: bridge.metrics.acknowledged == 1)
    [msg] = _read(broker_name, "out", 1)
    assert msg.value == b"x"
    assert abs(msg.timestamp - time.time()) < 10
    raw = msg.raw.value  # the queue's Record: the stored wire bytes
    from sinetstream_queue import broker

    assert raw[:2] == b"\xdf\x03"  # version 3 framing, as the writer sent it
    assert broker(broker_name).backlog("in") == 0


@queue_can_be_a_source
def test_reencrypt_between_two_keys(workdir: Path, broker_name: str) -> None:
    cfg = _config(
        workdir / "c.yml",
        broker_name,
        src={"topic": "in", "data_encryption": True, "crypto": KEY_A},
        dst={"topic": "out", "data_encryption": True, "crypto": KEY_B},
    )
    _write(broker_name, "in", [b"secret"], data_encryption=True, crypto=KEY_A)
    with Bridge("src", "dst", config_file=str(cfg)) as bridge:
        assert bridge.mode == "reencrypt"
        _wait(lambda: bridge.metrics.acknowledged == 1)
    with pytest.raises(InvalidMessageError):
        _read(broker_name, "out", 1, data_encryption=True, crypto=KEY_A)
    _write(broker_name, "in", [b"again"], data_encryption=True, crypto=KEY_A)
    with Bridge("src", "dst", config_file=str(cfg)) as bridge:
        _wait(lambda: bridge.metrics.acknowledged == 1)
    [msg] = _read(broker_name, "out", 1, data_encryption=True, crypto=KEY_B)
    assert msg.value == b"again"


@queue_can_be_a_source
def test_undelivered_messages_stay_on_the_source(workdir: Path, broker_name: str) -> None:
    # The destination topic holds 5 messages and nobody reads it: publishes
    # fail (full), are retried, and what was not forwarded at stop is not
    # acknowledged on the source: a second bridge forwards it.
    small = broker_name + "-small"
    spec = {"brokers": small, "maxsize": 5, "publish_timeout_ms": 50}
    cfg = _config(
        workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out", "type_spec": spec}
    )
    values = [b"%d" % i for i in range(20)]
    _write(broker_name, "in", values)
    bridge = Bridge("src", "dst", config_file=str(cfg), max_in_flight=4, drain_timeout=0.3)
    with bridge:
        _wait(lambda: bridge.metrics.retried > 0)
    first = bridge.metrics
    assert first.acknowledged == 5
    assert first.forwarded >= 5
    from sinetstream_queue import broker

    assert broker(broker_name).backlog("in") == 15  # the rest waits on the source
    got: list[bytes] = []
    with (
        MessageReader(
            None, "out", no_config=True, type="queue", brokers=small, receive_timeout_ms=1500
        ) as reader,
        Bridge("src", "dst", config_file=str(cfg)) as again,
    ):
        for m in reader:
            got.append(m.value)
            if set(values) <= set(got):
                break
    assert set(values) <= set(got)
    assert again.metrics.received >= 15


@queue_can_be_a_source
def test_topic_map_subscribes_to_the_sources(workdir: Path, broker_name: str) -> None:
    # The queue has no wildcards: literal sources (MQTT wildcards: tests/test_bridge of mqtt).
    cfg = _config(workdir / "c.yml", broker_name, src={}, dst={})
    _write(broker_name, "dev/a/temp", [b"1"])
    _write(broker_name, "dev/b/temp", [b"2"])
    rules = ["dev/a/temp=>a-{topic}", "dev/b/temp=>temp-b"]
    with Bridge("src", "dst", config_file=str(cfg), topic_map=rules) as bridge:
        _wait(lambda: bridge.metrics.acknowledged == 2)
    assert [m.value for m in _read(broker_name, "a-dev/a/temp", 1)] == [b"1"]
    assert [m.value for m in _read(broker_name, "temp-b", 1)] == [b"2"]


def test_topic_map_rules() -> None:
    tm = TopicMap([parse_rule("s/+/t/#=>x.{1}.{2}"), ("k", "by-{key}")])
    assert tm.destination("s/dev1/t/a/b") == "x.dev1.a/b"
    assert tm.sources == ["s/+/t/#", "k"]

    class Raw:
        key = b"dev9"

    assert tm.destination("k", Raw()) == "by-dev9"
    with pytest.raises(InvalidArgumentError, match="no rule matches"):
        tm.destination("other")
    with pytest.raises(InvalidArgumentError, match="needs the message key"):
        tm.destination("k", object())
    with pytest.raises(InvalidArgumentError, match="SOURCE=>DESTINATION"):
        parse_rule("no-arrow")
    with pytest.raises(InvalidArgumentError, match="unknown field"):
        TopicMap([("a/+", "{2}")])
    with pytest.raises(InvalidArgumentError, match="whole level"):
        TopicMap([("a/b#", "x")])
    assert TopicMap([], "fixed").destination("any") == "fixed"
    assert TopicMap([]).destination("same") == "same"


def test_source_without_manual_ack_is_refused(
    workdir: Path, broker_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(QueueReader, "enable_manual_ack"):  # sinetstream-queue 1.0.0 has none
        monkeypatch.delattr(QueueReader, "enable_manual_ack")
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    with pytest.raises(SinetError, match="cannot acknowledge messages"):
        Bridge("src", "dst", config_file=str(cfg)).run()


def test_bad_arguments(workdir: Path, broker_name: str) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    with pytest.raises(InvalidArgumentError, match="mode"):
        Bridge("src", "dst", config_file=str(cfg), mode="copy")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_in_flight"):
        Bridge("src", "dst", config_file=str(cfg), max_in_flight=0)


@queue_can_be_a_source
def test_run_async_is_cancelled_with_a_drain(workdir: Path, broker_name: str) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    _write(broker_name, "in", [b"a", b"b"])
    bridge = Bridge("src", "dst", config_file=str(cfg))

    async def main_task() -> None:
        task = asyncio.ensure_future(bridge.run_async())
        while bridge.metrics.acknowledged < 2 and not task.done():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main_task())
    assert [m.value for m in _read(broker_name, "out", 2)] == [b"a", b"b"]


@queue_can_be_a_source
def test_cli_bridge_runs_and_prints_a_summary(
    workdir: Path, broker_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    _write(broker_name, "in", [b"1", b"2", b"3"])
    argv = ["bridge", "--from", "src", "--to", "dst", "--config-file", str(cfg)]
    code = main([*argv, "--duration", "0.5", "--passthrough"])
    assert code == 0
    out = capsys.readouterr().out
    assert "bridge src -> dst: received 3, forwarded 3" in out
    assert [m.value for m in _read(broker_name, "out", 3)] == [b"1", b"2", b"3"]


@queue_can_be_a_source
def test_undecodable_messages_are_skipped_or_stop_the_bridge(
    workdir: Path, broker_name: str
) -> None:
    cfg = _config(
        workdir / "c.yml",
        broker_name,
        src={"topic": "in", "data_encryption": True, "crypto": KEY_B},
        dst={"topic": "out"},
        skip={
            "topic": "in",
            "data_encryption": True,
            "crypto": KEY_B,
            "on_invalid_message": "skip",
        },
    )
    _write(broker_name, "in", [b"1", b"2"], data_encryption=True, crypto=KEY_A)
    fails = pytest.raises(InvalidMessageError, match="bridge src -> dst: decoding a message of")
    with fails, Bridge("src", "dst", config_file=str(cfg)):
        time.sleep(1)
    from sinetstream_queue import broker

    assert broker(broker_name).backlog("in") == 2  # nothing acknowledged
    with Bridge("skip", "dst", config_file=str(cfg)) as bridge:
        _wait(lambda: bridge.metrics.acknowledged == 2)
    assert bridge.metrics.skipped_invalid == 2
    assert bridge.metrics.forwarded == 0
    assert broker(broker_name).backlog("in") == 0


@queue_can_be_a_source
def test_cli_progress_lines(
    workdir: Path, broker_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    argv = ["bridge", "--from", "src", "--to", "dst", "--config-file", str(cfg)]
    assert main([*argv, "--duration", "0.7", "--progress", "0.2"]) == 0
    err = capsys.readouterr().err
    assert err.count("received 0, forwarded 0") >= 2


@queue_can_be_a_source
def test_a_message_the_map_cannot_place_stops_the_bridge(workdir: Path, broker_name: str) -> None:
    cfg = _config(workdir / "c.yml", broker_name, src={}, dst={})
    _write(broker_name, "in", [b"1"])
    fails = pytest.raises(
        InvalidArgumentError, match=r"routing a message of service 'src'.*needs the message key"
    )
    with fails, Bridge("src", "dst", config_file=str(cfg), topic_map=["in=>by-{key}"]):
        time.sleep(1)
    from sinetstream_queue import broker

    assert broker(broker_name).backlog("in") == 1  # not acknowledged


@queue_can_be_a_source
def test_a_plugin_failing_with_its_own_exception_stops_the_bridge(
    workdir: Path, broker_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(QueueReader, "__iter__", broken)
    cfg = _config(workdir / "c.yml", broker_name, src={"topic": "in"}, dst={"topic": "out"})
    with pytest.raises(SinetError, match="reading from service 'src': disk on fire"):
        Bridge("src", "dst", config_file=str(cfg)).run()


def test_the_source_gets_a_fixed_client_id_unless_it_has_one(
    workdir: Path, broker_name: str
) -> None:
    # A generated id would start a new MQTT session / Kafka group at each restart.
    cfg = _config(
        workdir / "c.yml",
        broker_name,
        src={"topic": "in"},
        own={"topic": "in", "client_id": "mine"},
        dst={"topic": "out"},
    )
    assert Bridge("src", "dst", config_file=str(cfg))._reader.client_id == (
        "sinetstream-bridge-src-dst"
    )
    assert Bridge("own", "dst", config_file=str(cfg))._reader.client_id == "mine"
    given = Bridge("src", "dst", config_file=str(cfg), from_params={"client_id": "kw"})
    assert given._reader.client_id == "kw"
