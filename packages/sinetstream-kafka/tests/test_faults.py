"""AT_LEAST_ONCE across outages on noida-db: connections cut and restored, broker restarts.

Every message whose publish succeeded must be received; duplicates are allowed
and counted. The relay is an HTTP CONNECT proxy given to kafka-python as
``proxy_url``, so every broker connection (bootstrap, leader, coordinator)
passes through it and is cut with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sinetstream.error import SinetError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaReader, KafkaWriter

from .conftest import NOIDA_SESSION, RESILIENT, create_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

V3 = ConfigVersion(3)


class Stream:
    """A writer thread publishing 0..n-1 and a reader thread collecting what arrives."""

    def __init__(self, brokers: str, topic: str, spec: dict[str, Any]) -> None:
        group = f"g-{uuid.uuid4().hex[:8]}"
        common = {"type": "kafka", "brokers": brokers, "consistency": "AT_LEAST_ONCE"}
        self.writer = KafkaWriter(V3, {**common, "topic": topic, "client_id": "fault-w",
                                       "type_spec": {**RESILIENT, "delivery_timeout_ms": 20000,
                                                     **spec}})  # fmt: skip
        self.reader = KafkaReader(V3, {**common, "topics": [topic], "topic": topic,
                                       "client_id": "fault-r", "receive_timeout_ms": 500.0,
                                       "type_spec": {**RESILIENT, **NOIDA_SESSION,
                                                     "group_id": group, **spec}})  # fmt: skip
        self.succeeded: list[int] = []
        self.failed: list[int] = []
        self.received: list[int] = []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.slowest_publish = 0.0  # proves a publish really waited out the outage

    def open(self) -> None:
        self.reader.open()
        self.writer.open()
        self._reading = threading.Thread(target=self._read, daemon=True)
        self._reading.start()

    def publish(self, start: int, stop: int, pause: float = 0.0) -> None:
        for i in range(start, stop):
            began = time.monotonic()
            try:
                self.writer.publish(PluginMessage(b"%d" % i, time.time_ns() // 1000))
            except SinetError:
                self.failed.append(i)
            else:
                self.succeeded.append(i)
            self.slowest_publish = max(self.slowest_publish, time.monotonic() - began)
            if pause:
                time.sleep(pause)

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                for value, _topic, _raw in self.reader:
                    self.received.append(int(value))
                    if self.stop.is_set():
                        break
            except SinetError as exc:  # reported, then the stream goes on
                self.errors.append(exc)
                time.sleep(0.2)

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while set(self.succeeded) - set(self.received) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        self.stop.set()
        self._reading.join(10)
        self.writer.close()
        self.reader.close()

    def check(self) -> Counter[int]:
        missing = sorted(set(self.succeeded) - set(self.received))
        assert missing == [], f"lost {len(missing)} acknowledged messages: {missing[:20]}"
        assert len(self.succeeded) > 0
        return Counter(v for v, c in Counter(self.received).items() if c > 1)


def test_connections_cut_and_restored(noida_factory: Any, relay_factory: Any) -> None:
    broker = noida_factory()
    topic = f"cut-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    relay = relay_factory()  # HTTP CONNECT: every broker connection goes through it
    stream = Stream(broker.bootstrap, topic, {"proxy_url": relay.url})
    stream.open()
    try:
        stream.publish(0, 100)
        accepted_before = relay.accepted
        # cut while publishing: the publishes in flight wait and go through after restore
        cutter = threading.Timer(0.2, relay.cut)
        cutter.start()
        restorer = threading.Timer(3.2, relay.restore)
        restorer.start()
        stream.publish(100, 200, pause=0.01)
        cutter.join()
        restorer.join()
        stream.publish(200, 300)
        stream.wait_all(20)
    finally:
        stream.close()
    dups = stream.check()
    assert relay.accepted > accepted_before, "the clients never reconnected through the relay"
    assert stream.slowest_publish > 1.0, "no publish overlapped the outage"
    print(f"cut: {len(stream.succeeded)} acknowledged, {len(stream.failed)} failed, "
          f"{sum(dups.values())} duplicates")  # fmt: skip


def test_broker_restart_with_persistent_storage(noida_factory: Any, tmp_path: Path) -> None:
    data = tmp_path / "persist"
    broker = noida_factory(data_dir=data)
    port = broker.port
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    stream = Stream(broker.bootstrap, topic, {})
    stream.open()
    try:
        stream.publish(0, 100)
        stream.wait_all(10)
        broker.stop()
        restarter = threading.Timer(1.5, lambda: noida_factory(data_dir=data, port=port))
        restarter.start()
        stream.publish(100, 200, pause=0.005)  # spans the restart
        restarter.join()
        stream.publish(200, 300)
        stream.wait_all(30)
    finally:
        stream.close()
    dups = stream.check()
    assert stream.slowest_publish > 1.0, "no publish overlapped the restart"
    print(f"restart: {len(stream.succeeded)} acknowledged, {len(stream.failed)} failed, "
          f"{sum(dups.values())} duplicates")  # fmt: skip


@pytest.mark.parametrize("style", ["sync", "async"])
def test_reader_reports_lost_connection(style: str, tansu: str, relay_factory: Any) -> None:
    """Once every broker connection is gone, both readers report it once, then go on.

    The callback reader passes a ConnectionError to on_failure; the iterator raises it.
    """
    from sinetstream.error import ConnectionError  # noqa: A004
    from sinetstream_kafka import KafkaAsyncReader

    topic = f"lost-{uuid.uuid4().hex[:8]}"
    create_topic(tansu, topic)
    relay = relay_factory()
    spec = {**RESILIENT, "group_id": None, "proxy_url": relay.url}
    params = {"type": "kafka", "brokers": tansu, "topics": [topic], "topic": topic,
              "client_id": f"lost-{style}", "receive_timeout_ms": 10000.0,
              "type_spec": spec}  # fmt: skip
    got: list[bytes] = []
    failures: list[BaseException] = []
    r: Any
    if style == "async":
        r = KafkaAsyncReader(V3, params)
        r.on_message = lambda value, _t, _raw: got.append(value)
        r.on_failure = lambda exc, _tb: failures.append(exc)
        wait = _until
    else:
        r = KafkaReader(V3, params)

        def wait(cond: Any, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                assert time.monotonic() < deadline, "timed out"
                try:
                    for value, _topic, _raw in r:
                        got.append(bytes(value))
                        if cond():
                            return
                except SinetError as exc:
                    failures.append(exc)

    w = KafkaWriter(V3, {"type": "kafka", "brokers": tansu, "topic": topic, "client_id": "lw",
                         "consistency": "AT_LEAST_ONCE"})  # fmt: skip
    r.open()
    w.open()
    try:
        w.publish(PluginMessage(b"before", 1))
        wait(lambda: got == [b"before"], 5)
        relay.cut()
        wait(lambda: failures, 8)
        w.publish(PluginMessage(b"during", 1))
        relay.restore()
        wait(lambda: got == [b"before", b"during"], 15)
    finally:
        w.close()
        r.close()
    assert isinstance(failures[0], ConnectionError)
    assert "still retrying" in str(failures[0])
    assert len(failures) == 1


def _until(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
