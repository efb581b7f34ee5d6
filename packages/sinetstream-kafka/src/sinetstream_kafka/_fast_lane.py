"""The async writer's fast lane: its records go into kafka-python's accumulator already encoded.

kafka-python's ``send()`` spends about 40 µs per 1 KiB record in Python: checks,
a size estimate, the record encoded field by field, and a future per record
that its sender thread settles one by one. The lane does what ``send()``
does for the plain case, with :class:`._record_batch.BatchBuilder`: it picks
the partition as ``send()`` would, appends the encoded record to the open
batch of that partition in kafka-python's own accumulator (under its lock),
and wakes the sender when a batch is new or full. The batch then goes
through kafka-python's sender like any other (acks, retries, in-flight
limits, delivery timeout, metadata updates). One callback per batch settles
its records: failures reject every promise of the batch at once, successes
are read by the promises that are looked at.

The lane serves a producer without compression, idempotence or transactions,
key or value serializers, on message format v2; and only a kafka-python whose
internals are those of the tested 3.0 line (:func:`lane_for` says why not, in
the debug log). Anything else goes through ``send()``.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

import kafka.errors as kerr
from kafka import KafkaProducer, TopicPartition
from kafka.partitioner.abc import Partitioner
from kafka.producer.future import FutureRecordMetadata, RecordMetadata
from kafka.producer.producer_batch import ProducerBatch
from kafka.producer.record_accumulator import RecordAccumulator

from ._record_batch import BatchBuilder

__all__ = ["Lane", "LaneBatch", "lane_for", "metadata"]

log = logging.getLogger("sinetstream_kafka")


def metadata(tp: Any, result: Any, args: tuple[int, int, int, int, int]) -> Any:
    """The RecordMetadata of the record ``args`` (index, timestamp, key, value and header
    sizes) of a batch the broker took, from ``result`` (base offset, log append time, -)."""
    index, timestamp, key_size, value_size, header_size = args
    base_offset, append_time = result[0], result[1]
    if append_time is not None and append_time != -1:
        timestamp = append_time
    offset = base_offset + index if base_offset != -1 else -1
    return RecordMetadata(
        tp.topic, tp.partition, tp, offset, timestamp, None, key_size, value_size, header_size
    )


class LaneBatch(ProducerBatch):  # type: ignore[misc]  # kafka-python is untyped
    """A ProducerBatch filled by the lane: a :class:`BatchBuilder`, its records' promises."""

    def __init__(self, tp: Any, builder: BatchBuilder) -> None:
        self._futures: list[Any] | None = None
        super().__init__(tp, builder)
        self.promises: list[Any] = []
        self.produce_future.add_callback(self._settled)

    # ProducerBatch sets these in __init__; the builder keeps the record sizes.
    @property
    def max_record_size(self) -> int:
        """The largest record, for kafka-python's metrics."""
        builder: BatchBuilder = self.records
        return builder.max_record

    @max_record_size.setter
    def max_record_size(self, value: int) -> None:
        pass

    def try_append(self, *args: Any, **kwargs: Any) -> None:
        """Refused: kafka-python's own ``send()`` starts a batch of its own after this one."""

    @property
    def _record_futures(self) -> list[Any]:
        """A FutureRecordMetadata per record, made when kafka-python splits the batch.

        On MESSAGE_TOO_LARGE kafka-python splits a batch into smaller ones and
        moves each record's future to its new batch; the promises then follow
        those futures, and this batch's own callback stands down.
        """
        if self._futures is None:
            self._futures = []
            records = [r for b in self.records.records() for r in b]
            for index, (promise, rec) in enumerate(zip(self.promises, records, strict=True)):
                future = FutureRecordMetadata(
                    self.produce_future,
                    index,
                    rec.timestamp,
                    None,
                    promise._args[2],
                    promise._args[3],
                    promise._args[4],
                )
                promise._follow(future)
                self._futures.append(future)
        return self._futures

    @_record_futures.setter
    def _record_futures(self, value: list[Any]) -> None:
        pass  # ProducerBatch.__init__: the list is made on demand

    def _settled(self, result: Any) -> None:
        if self._futures is not None:
            return  # split: the records' futures settle the promises
        record_errors = result[2]
        if record_errors is not None:
            for index, promise in enumerate(self.promises):
                promise._failed(record_errors(index))


class Lane:
    """Appends the records of one writer's topic to kafka-python's accumulator."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        config = producer.config
        self._accumulator: RecordAccumulator = producer._accumulator
        self._wakeup = producer._sender.wakeup
        self._cluster = producer._metadata
        self._partitioner = config["partitioner"]
        self._batch_size = int(config["batch_size"])
        self._max_request_size = int(config["max_request_size"])
        self._topic = topic
        # partition -> (TopicPartition, its lock, its deque of batches)
        self._partitions: dict[int, tuple[Any, Any, Any]] = {}

    def append(
        self,
        promise: Any,
        value: bytes,
        key: bytes | None,
        partition: int | None,
        headers: list[tuple[str, bytes]] | None,
    ) -> bool:
        """Add one record for ``promise``; False when ``send()`` must take it (metadata unknown)."""
        cluster, topic = self._cluster, self._topic
        known = cluster.partitions_for_topic(topic)
        if known is None:
            return False
        if partition is not None and (partition < 0 or partition not in known):
            raise ValueError(f"Unrecognized partition {partition} for topic {topic}")
        chosen: int = (
            partition
            if partition is not None
            else self._partitioner.partition(topic, key, key, value, value, cluster)
        )
        slot = self._partitions.get(chosen)
        if slot is None:
            slot = self._slot(chosen)
        tp, lock, batches = slot
        timestamp = int(time.time() * 1000)
        sizes = (
            len(key) if key is not None else -1,
            len(value),
            sum(len(k.encode("utf-8")) + len(v) for k, v in headers) if headers else -1,
        )
        accumulator = self._accumulator
        with lock:
            if accumulator._closed:
                raise kerr.IllegalStateError("RecordAccumulator is closed")
            batch: Any = batches[-1] if batches else None
            index = (
                batch.records.add(timestamp, key, value, headers)
                if type(batch) is LaneBatch
                else None
            )
            if index is None:
                builder = BatchBuilder(self._batch_size, self._max_request_size)
                index = builder.add(timestamp, key, value, headers)
                batch = LaneBatch(tp, builder)
                batches.append(batch)
                accumulator._incomplete.add(batch)
                wake = True
            else:
                wake = len(batches) > 1 or batch.records.is_full()
            # Set before the sender can see the record (a split reads them).
            promise._batch = batch
            promise._args = (index, timestamp, *sizes)
            batch.promises.append(promise)
        if wake:
            self._wakeup()
        return True

    def _slot(self, partition: int) -> tuple[Any, Any, Any]:
        tp = TopicPartition(self._topic, partition)
        accumulator = self._accumulator
        slot = (tp, accumulator._tp_lock(tp), accumulator._batches[tp])
        self._partitions[partition] = slot
        return slot


def _incompatible(producer: KafkaProducer) -> str | None:
    """Why the lane cannot serve ``producer``, or None when it can."""
    config = producer.config
    for name, plain in (
        ("compression_type", None),
        ("transactional_id", None),
        ("enable_idempotence", False),
        ("key_serializer", None),
        ("value_serializer", None),
    ):
        if config.get(name) != plain:
            return f"{name} is {config.get(name)!r}"
    if not isinstance(config.get("partitioner"), Partitioner):
        return "the partitioner is not a kafka.partitioner.Partitioner"
    accumulator = getattr(producer, "_accumulator", None)
    if not isinstance(accumulator, RecordAccumulator):
        return "the producer has no RecordAccumulator"
    if accumulator.config.get("message_version") != 2:
        return f"message format v{accumulator.config.get('message_version')}"
    if getattr(producer, "_transaction_manager", None) is not None:
        return "the producer has a transaction manager"
    for owner, names in (
        (accumulator, ("_tp_lock", "_batches", "_incomplete", "_closed")),
        (producer, ("_sender", "_metadata")),
    ):
        missing = [n for n in names if not hasattr(owner, n)]
        if missing:
            return f"{type(owner).__name__} has no {', '.join(missing)}"
    batch_params = list(inspect.signature(ProducerBatch.__init__).parameters)
    if batch_params[:3] != ["self", "tp", "records"]:
        return f"ProducerBatch takes {batch_params}"
    if not hasattr(FutureRecordMetadata, "rebind"):
        return "FutureRecordMetadata has no rebind"
    if RecordMetadata._fields != (
        "topic", "partition", "topic_partition", "offset", "timestamp", "checksum",
        "serialized_key_size", "serialized_value_size", "serialized_header_size",
    ):  # fmt: skip
        return f"RecordMetadata has fields {RecordMetadata._fields}"
    return None


def lane_for(producer: KafkaProducer, topic: str) -> Lane | None:
    """The fast lane for ``producer`` and ``topic``, or None (logged) where it cannot serve."""
    why = _incompatible(producer)
    if why is not None:
        log.debug("kafka writer: kafka-python's send() in use: %s", why)
        return None
    return Lane(producer, topic)
