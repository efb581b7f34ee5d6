"""noida-db (records on disk in ``--data-dir``) SIGKILLed and restarted mid-stream, and a
writer process SIGKILLed mid-stream, through the public API at AT_LEAST_ONCE.

Every message whose ``publish`` returned (sync) or whose promise resolved (async)
must be received; duplicates are allowed and counted. ``test_faults.py`` covers a
SIGTERM restart under the plugin classes; here the broker gets no chance to
flush, and a group reader that left must resume from the offset it committed
before the kill.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sinetstream import MessageReader, MessageWriter, SinetError
from sinetstream.testing.crash import run_killed_writer
from sinetstream.testing.load import CollectingReader

from .conftest import NOIDA_SESSION, RESILIENT, BrokerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


#: longer than noida-db's interval between writes to disk (see kill())
FLUSH_WAIT = 1.0


def kill(broker: BrokerProcess) -> None:
    """SIGKILL the broker's process group.

    noida-db 0.2.3 acknowledges a record (acks=all) before it is on disk and writes
    to disk about every 0.25 s: a SIGKILL loses what it acknowledged in the last
    0.25 s (seen: 150 records acknowledged 0.2 s before the kill, all gone with
    their topic). That is the broker's promise, not the client's: wait out its flush.
    """
    time.sleep(FLUSH_WAIT)
    proc = broker.proc
    assert proc is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    broker.proc = None


def service(broker: BrokerProcess, **extra: Any) -> dict[str, Any]:
    return {
        "no_config": True,
        "type": "kafka",
        "brokers": broker.bootstrap,
        "consistency": "AT_LEAST_ONCE",
        "value_type": "text",
        **extra,
    }


def group_reader(broker: BrokerProcess, topic: str, group: str) -> CollectingReader:
    """A sync group reader collecting on a thread."""
    spec = {**RESILIENT, **NOIDA_SESSION, "group_id": group}
    reader = MessageReader(topics=topic, receive_timeout_ms=300, type_spec=spec, **service(broker))
    reader.open()
    return CollectingReader(reader)


def publish_all(writer: MessageWriter, numbers: range, acked: list[int]) -> int:
    """Publish each number until the broker acknowledges it; returns the failed attempts."""
    retries = 0
    for seq in numbers:
        while True:
            try:
                writer.publish(str(seq))
                break
            except SinetError:  # not acknowledged (delivery timed out): publish it again
                retries += 1
                time.sleep(0.1)
        acked.append(seq)
        time.sleep(0.002)
    return retries


class Noida:
    """One noida-db data folder and port, killed and started again as the test needs."""

    def __init__(self, factory: Any, data: Path) -> None:
        self._factory, self._data = factory, data
        self.broker: BrokerProcess = factory(data_dir=data)

    def kill(self) -> None:
        kill(self.broker)

    def start(self) -> None:
        self.broker = self._factory(data_dir=self._data, port=self.broker.port)

    def restart_later(self, delay: float) -> threading.Timer:
        timer = threading.Timer(delay, self.start)
        timer.start()
        return timer


@pytest.fixture
def killable(noida_factory: Any, tmp_path: Path) -> Noida:
    """A noida-db of this test's own, with its data in tmp_path."""
    return Noida(noida_factory, tmp_path / "persist")


def test_broker_killed_mid_stream_loses_nothing(
    killable: Noida, make_topic: Any, group: str
) -> None:
    """A group reader and a writer stay open while the broker is killed and restarted."""
    noida = killable
    topic = make_topic(noida.broker.bootstrap)
    acked: list[int] = []
    reader = group_reader(noida.broker, topic, group)
    spec = {**RESILIENT, "delivery_timeout_ms": 20000}
    try:
        with MessageWriter(topic=topic, type_spec=spec, **service(noida.broker)) as writer:
            publish_all(writer, range(150), acked)
            noida.kill()
            restarter = noida.restart_later(1.5)
            began = time.monotonic()
            retries = publish_all(writer, range(150, 300), acked)
            outage = time.monotonic() - began
            restarter.join()
        missing = reader.wait_for(set(acked), 30)
    finally:
        reader.close()
    assert missing == set(), f"lost {len(missing)}: {sorted(missing)[:20]}"
    assert outage > 1.0, "no publish overlapped the broker's outage"
    duplicates = sum(n - 1 for n in Counter(reader.values).values() if n > 1)
    print(f"{len(acked)} acknowledged, {retries} retries, {duplicates} duplicates")


def test_group_resumes_from_committed_offset_after_kill(
    killable: Noida, make_topic: Any, group: str
) -> None:
    """A member commits and leaves; the broker is killed mid-stream; the next member resumes."""
    noida = killable
    topic = make_topic(noida.broker.bootstrap)
    acked: list[int] = []
    first = group_reader(noida.broker, topic, group)
    second: CollectingReader | None = None
    spec = {**RESILIENT, "delivery_timeout_ms": 20000}
    try:
        with MessageWriter(topic=topic, type_spec=spec, **service(noida.broker)) as writer:
            publish_all(writer, range(150), acked)
            missing_first = first.wait_for(set(acked), 20)
            first.close()  # commits offset 150 and leaves the group
            publish_all(writer, range(150, 200), acked)
            noida.kill()
            restarter = noida.restart_later(1.5)
            publish_all(writer, range(200, 300), acked)
            restarter.join()
        second = group_reader(noida.broker, topic, group)
        missing_second = second.wait_for(set(range(150, 300)), 30)
    finally:
        first.close()
        if second is not None:
            second.close()
    assert missing_first == set(), f"lost {len(missing_first)}: {sorted(missing_first)[:20]}"
    assert missing_second == set(), f"lost {len(missing_second)}: {sorted(missing_second)[:20]}"
    # from the committed offset: not from the beginning, not from the end
    assert min(second.values) == 150


def test_member_that_could_not_commit_leaves_no_gap(
    killable: Noida, make_topic: Any, group: str
) -> None:
    """A member reads, the broker restarts and forgets it, so its closing commit fails.

    Had the group no committed offset, the next member would start at the end of
    the partition and skip what was published in between: AT_LEAST_ONCE must
    give duplicates there, never a gap.
    """
    noida = killable
    topic = make_topic(noida.broker.bootstrap)
    acked: list[int] = []
    first = group_reader(noida.broker, topic, group)
    second: CollectingReader | None = None
    try:
        with MessageWriter(topic=topic, type_spec=RESILIENT, **service(noida.broker)) as writer:
            publish_all(writer, range(100), acked)
            missing_first = first.wait_for(set(acked), 20)
            first.stop()  # no more polls: the member cannot rejoin before it closes
            noida.kill()
            noida.start()
            first.close()  # its commit names a member the restarted broker does not know
            publish_all(writer, range(100, 200), acked)
        second = group_reader(noida.broker, topic, group)
        missing_second = second.wait_for(set(range(100, 200)), 20)
    finally:
        first.close()
        if second is not None:
            second.close()
    assert missing_first == set()
    assert missing_second == set(), f"lost {len(missing_second)}: {sorted(missing_second)[:20]}"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_writer_process_killed_mid_stream(
    noida: BrokerProcess, make_topic: Any, group: str, mode: str
) -> None:
    topic = make_topic(noida.bootstrap)
    reader = group_reader(noida, topic, group)
    try:
        params = service(noida, topic=topic, type_spec=RESILIENT)
        reported = run_killed_writer(params, mode, 300)
        missing = reader.wait_for(set(reported), 20)
    finally:
        reader.close()
    assert missing == set(), f"lost {len(missing)} delivered messages: {sorted(missing)[:20]}"
    print(f"{mode}: {len(reported)} reported delivered, {len(set(reader.values))} received")
