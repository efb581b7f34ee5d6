"""The async writer's fast lane against both native brokers, read back by kafka-python itself."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sinetstream.error import SinetError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaAsyncWriter
from sinetstream_kafka._fast_lane import LaneBatch
from sinetstream_kafka._record_batch import BatchBuilder
from sinetstream_kafka._writer import _LanePromise

from .conftest import BrokerProcess, create_topic

pytestmark = pytest.mark.kafka

V3 = ConfigVersion(3)


@pytest.fixture(params=["tansu", "noida"])
def brokers(request: pytest.FixtureRequest) -> str:
    """The bootstrap address of each native broker in turn."""
    broker = request.getfixturevalue(request.param)
    return broker.bootstrap if isinstance(broker, BrokerProcess) else str(broker)


def _writer(brokers: str, topic: str, **spec: Any) -> KafkaAsyncWriter:
    return KafkaAsyncWriter(V3, {"type": "kafka", "brokers": brokers, "topic": topic,
                                 "consistency": "AT_LEAST_ONCE", "type_spec": spec})  # fmt: skip


def _opened(brokers: str, partitions: int = 1) -> tuple[str, KafkaAsyncWriter]:
    """A fresh topic (created by the first record if ``partitions`` is 0) and an open
    async writer to it."""
    topic = f"lane{uuid.uuid4().hex[:10]}"
    if partitions:
        create_topic(brokers, topic, partitions=partitions)
    w = _writer(brokers, topic)
    w.open()
    return topic, w


def _read_back(brokers: str, topic: str, partitions: int, count: int) -> dict[tuple[int, int], Any]:
    """Every record by (partition, offset), decoded by kafka-python's own decoder."""
    consumer = KafkaConsumer(bootstrap_servers=brokers, group_id=None, consumer_timeout_ms=5000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = {}
    try:
        for rec in consumer:
            got[rec.partition, rec.offset] = rec
            if len(got) >= count:
                break
    finally:
        consumer.close()
    return got


def test_keys_headers_partitions_round_trip(brokers: str) -> None:
    topic, w = _opened(brokers, partitions=3)
    sent = []
    try:
        assert w._lane is not None
        for i in range(300):
            key = None if i % 3 else f"k{i % 7}".encode()
            headers = {"n": str(i), "bin": b"\x00\xff"} if i % 5 == 0 else None
            partition = 2 if i % 11 == 0 else None
            # Small values, one batch per partition: kafka-python 3.0.0 leaves records
            # unsent when a partition has several batches queued (through send() too).
            value = bytes([i % 256]) * (i * 37 % 300)
            promise = w.publish(PluginMessage(value, 0), key=key, partition=partition,
                                headers=headers)  # fmt: skip
            sent.append((promise, key, value, headers, partition))
        metadata = [p.get(20) for p, *_ in sent]
    finally:
        w.close()
    got = _read_back(brokers, topic, 3, len(sent))
    for md, (_p, key, value, headers, partition) in zip(metadata, sent, strict=True):
        rec = got[md.partition, md.offset]
        assert (rec.key, rec.value, rec.timestamp) == (key, value, md.timestamp)
        items = (headers or {}).items()
        assert rec.headers == [(k, v.encode() if isinstance(v, str) else v) for k, v in items]
        assert md.serialized_value_size == len(value)
        if partition is not None:
            assert md.partition == partition
    # keyed records go where kafka-python's DefaultPartitioner puts them: one partition per key
    by_key: dict[bytes, set[int]] = {}
    for md, (_p, key, _v, _h, partition) in zip(metadata, sent, strict=True):
        if key is not None and partition is None:
            by_key.setdefault(key, set()).add(md.partition)
    assert all(len(parts) == 1 for parts in by_key.values())


def test_the_first_records_before_the_metadata_keep_their_order(brokers: str) -> None:
    """Records sent before the topic's metadata is known go through send(); the order holds."""
    topic, w = _opened(brokers, partitions=0)
    try:
        promises = [w.publish(PluginMessage(b"%d" % i, 0), partition=0) for i in range(300)]
        offsets = [p.get(20).offset for p in promises]
        assert not isinstance(promises[0], _LanePromise)  # through send()
        assert isinstance(promises[-1], _LanePromise)
    finally:
        w.close()
    assert offsets == list(range(300))
    got = _read_back(brokers, topic, 1, 300)
    assert [got[0, i].value for i in range(300)] == [b"%d" % i for i in range(300)]


@pytest.mark.parametrize(
    "spec",
    [{"compression_type": "gzip"}, {"enable_idempotence": True}],
)
def test_what_the_lane_does_not_cover_goes_through_send(tansu: str, spec: dict[str, Any]) -> None:
    topic = f"lane{uuid.uuid4().hex[:10]}"
    w = _writer(tansu, topic, **spec)
    w.open()
    try:
        assert w._lane is None
        assert w.publish(PluginMessage(b"via send", 0), partition=0).get(20).offset == 0
    finally:
        w.close()


def test_a_failed_batch_rejects_its_promises(noida_factory: Any, tmp_path: Path) -> None:
    broker = noida_factory(tmp_path / "data")
    topic = f"lane{uuid.uuid4().hex[:10]}"
    create_topic(broker.bootstrap, topic)
    w = _writer(broker.bootstrap, topic, delivery_timeout_ms=2000, request_timeout_ms=1000,
                reconnect_backoff_max_ms=200)  # fmt: skip
    w.open()
    try:
        assert w.publish(PluginMessage(b"before", 0)).get(20).offset == 0
        broker.stop()
        failures: list[BaseException] = []
        promises = [w.publish(PluginMessage(b"lost", 0)) for _ in range(20)]
        for p in promises:
            p.catch(failures.append)
        deadline = time.monotonic() + 20
        while len(failures) < len(promises) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(failures) == len(promises)
        assert all(isinstance(f, SinetError) for f in failures)
    finally:
        w._producer.close(timeout=0)  # the broker is gone: do not wait for a flush
        w._producer = None


def test_a_split_batch_settles_its_promises(tansu: str) -> None:
    """kafka-python splits a batch the broker found too large; the promises follow."""
    topic, w = _opened(tansu)
    try:
        w.publish(PluginMessage(b"first", 0), partition=0).get(20)
        tp = TopicPartition(topic, 0)
        batch = LaneBatch(tp, BatchBuilder(1 << 20, 1 << 20))
        promises = []
        for i in range(5):
            promise = w._lane_promise_cls()
            index = batch.records.add(int(time.time() * 1000), None, b"split-%d" % i, None)
            batch.promises.append(promise)
            promise._batch, promise._args = batch, (index, 0, -1, 7, -1)
            promise.resolve_when_observed(promise._fetch)
            promises.append(promise)
        promises[0].is_pending  # noqa: B018 - observed before the split, the others after
        batch.records.close()
        accumulator = w._producer._accumulator
        assert accumulator.split_and_reenqueue(batch) == 2
        w._producer._sender.wakeup()
        assert [p.get(20).offset for p in promises] == [1, 2, 3, 4, 5]
    finally:
        w.close()
    got = _read_back(tansu, topic, 1, 6)
    assert [got[0, i].value for i in range(1, 6)] == [b"split-%d" % i for i in range(5)]
