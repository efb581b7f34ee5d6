"""Manual acknowledgement of the queue reader (the capability sinetstream.Bridge uses)."""

from __future__ import annotations

import threading
import uuid

from sinetstream.spi import ConfigVersion
from sinetstream_queue import QueueReader, broker


def _reader(name: str, topic: str) -> QueueReader:
    return QueueReader(
        ConfigVersion(3),
        {"type_spec": {"brokers": name}, "topics": [topic], "receive_timeout_ms": 100},
    )


def test_unacknowledged_messages_are_read_again_after_close() -> None:
    name = f"ack-{uuid.uuid4().hex}"
    b = broker(name)
    for v in (b"a", b"b", b"c"):
        b.publish("t", v)
    reader = _reader(name, "t")
    reader.enable_manual_ack()
    reader.open()
    got = list(reader)
    assert [bytes(p) for p, _, _ in got] == [b"a", b"b", b"c"]
    reader.ack(got[0][2])  # only "a" is done
    assert b.backlog("t") == 2
    reader.close()
    again = _reader(name, "t")
    again.open()
    assert [bytes(p) for p, _, _ in again] == [b"b", b"c"]
    again.close()


def test_without_manual_ack_reading_consumes() -> None:
    name = f"ack-{uuid.uuid4().hex}"
    b = broker(name)
    b.publish("t", b"a")
    reader = _reader(name, "t")
    reader.open()
    assert len(list(reader)) == 1
    reader.close()
    assert b.backlog("t") == 0


def test_a_full_topic_waits_for_acknowledgements() -> None:
    name = f"ack-{uuid.uuid4().hex}"
    b = broker(name, maxsize=2)
    reader = _reader(name, "t")
    reader.enable_manual_ack()
    reader.open()
    b.publish("t", b"1")
    b.publish("t", b"2")
    _, second = list(reader)
    assert b.try_publish("t", b"3") is None  # read, not acknowledged: still held
    reader.ack(second[2])  # covers "1" too
    assert b.try_publish("t", b"3") is not None
    reader.close()


def test_a_reader_closed_mid_batch_leaves_the_unacknowledged_for_the_next() -> None:
    # The reader takes all four under one lock; it hands out two, one is acknowledged.
    name = f"ack-{uuid.uuid4().hex}"
    b = broker(name)
    for v in (b"a", b"b", b"c", b"d"):
        b.publish("t", v)
    reader = _reader(name, "t")
    reader.enable_manual_ack()
    reader.open()
    it = iter(reader)
    first, _second = next(it), next(it)
    reader.ack(first[2])
    assert b.backlog("t") == 3
    reader.close()
    again = _reader(name, "t")
    again.open()
    assert [bytes(p) for p, _, _ in again] == [b"b", b"c", b"d"]
    again.close()


def test_an_acknowledgement_makes_room_for_a_waiting_publish() -> None:
    name = f"ack-{uuid.uuid4().hex}"
    b = broker(name, maxsize=2)
    reader = _reader(name, "t")
    reader.enable_manual_ack()
    reader.open()
    b.publish("t", b"1")
    b.publish("t", b"2")
    it = iter(reader)
    first = next(it)
    stored = threading.Event()

    def blocked() -> None:
        b.publish("t", b"3", timeout=5)
        stored.set()

    t = threading.Thread(target=blocked)
    t.start()
    assert not stored.wait(0.1)  # read, not acknowledged: no room
    reader.ack(first[2])
    assert stored.wait(2)
    t.join()
    assert [bytes(p) for p, _, _ in it] == [b"2", b"3"]
    reader.close()
