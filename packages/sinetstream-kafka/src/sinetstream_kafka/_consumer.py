"""The KafkaConsumer life cycle both Kafka readers share: open, rewind, close, seek, hooks.

Records fetched but not handed over yet wait in a queue of per-partition
lists; when the reader closes they are rewound (``seek``) so the commit made
at close never skips them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from sinetstream.error import InvalidMessageError, SinetError
from sinetstream.spi import ConfigVersion

from ._errors import kafka_errors, open_client
from ._params import ReaderConfig, reader_config
from ._records import CorruptRecords
from ._records import install as install_record_decoder

__all__ = ["Record", "ReaderBase"]

log = logging.getLogger("sinetstream_kafka")

Record = Any  # kafka.consumer.fetcher.ConsumerRecord

# How often open() looks whether kafka-python's I/O thread has assigned the partitions.
_ASSIGN_POLL_S = 0.002


def _commit_start(consumer: KafkaConsumer, fresh: list[TopicPartition], timeout_ms: float) -> None:
    """Commit the start offsets of partitions the group had no offset for.

    Without them, a member whose every later commit fails (the coordinator forgot
    it: a broker restart, a session that expired) leaves no offset behind, and the
    next member starts at the end of the partition, skipping the records between:
    a loss at AT_LEAST_ONCE. With them, it re-reads those records instead.
    """
    from kafka.structs import OffsetAndMetadata

    try:
        consumer.commit(
            {
                tp: OffsetAndMetadata(consumer.position(tp, timeout_ms=timeout_ms), "", -1)
                for tp in fresh
            }
        )
    except Exception as exc:
        log.warning("kafka reader: could not commit the start offsets: %s", exc)


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Signals the first completed group join (even one that assigns nothing)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.event.set()


@contextlib.contextmanager
def _no_metadata_backoff(cluster: Any) -> Iterator[None]:
    """Let ``cluster`` send its next metadata request at once.

    kafka-python spaces metadata requests ``retry_backoff_ms`` apart (100 ms by
    default), and the bootstrap has just sent one: the subscription's first
    metadata would wait that long, most of a group-less ``open()``. Where this
    kafka-python keeps that setting elsewhere, ``open()`` simply waits.
    """
    config = getattr(cluster, "config", None)
    if not isinstance(config, dict) or "retry_backoff_ms" not in config:
        yield
        return
    backoff = config["retry_backoff_ms"]
    config["retry_backoff_ms"] = 0
    try:
        yield
    finally:
        config["retry_backoff_ms"] = backoff


class ReaderBase:
    """Open/close, the fetch queue and the optional hooks shared by both readers."""

    def __init__(self, confver: ConfigVersion, params: dict[str, Any]) -> None:
        self._cfg: ReaderConfig = reader_config(confver, params)
        self._consumer: KafkaConsumer | None = None
        # Fetched, not yet handed over: lists of one partition's records, in order.
        self._queue: deque[list[Record]] = deque()
        # The list being handed over and how many of its records were handed over.
        self._current: list[Record] = []
        self._handed = 0
        self._lock = threading.Lock()

    # -- open / close ------------------------------------------------------------
    def _open_consumer(self) -> KafkaConsumer:
        cfg = self._cfg
        config = dict(cfg.consumer)
        consumer: KafkaConsumer = open_client(KafkaConsumer, config)
        install_record_decoder(consumer)
        deadline_ms = float(config.get("bootstrap_timeout_ms", 10_000))
        closing = functools.partial(consumer.close, autocommit=False, timeout_ms=0)
        with kafka_errors(f"subscribing to {cfg.topics}", cleanup=closing):
            if cfg.group_id is None:
                self._subscribe(consumer, None)
                self._await_partitions(consumer, deadline_ms)
            else:
                listener = _Assigned()
                self._subscribe(consumer, listener)
                # Joining takes about session_timeout_ms / 2 on some brokers: wait for
                # it here, so that messages published after open() are received.
                join_ms = deadline_ms + float(config.get("session_timeout_ms", 45_000))
                self._await_join(consumer, listener.event, join_ms)
            assigned = consumer.assignment()
            if cfg.start_at_end and assigned:
                fresh = [
                    tp
                    for tp in assigned
                    if cfg.group_id is None
                    or consumer.committed(tp, timeout_ms=deadline_ms) is None
                ]
                if fresh:
                    consumer.seek_to_end(*fresh)
                    # Drop what the join's poll fetched from before open() on those.
                    skip = set(fresh)
                    kept = [
                        r
                        for r in self._queue
                        if TopicPartition(r[0].topic, r[0].partition) not in skip
                    ]
                    self._queue = deque(kept)
                    if cfg.group_id is not None:
                        _commit_start(consumer, fresh, deadline_ms)
            # Resolve start offsets now rather than at the first poll, for the same reason.
            for tp in assigned:
                consumer.position(tp, timeout_ms=deadline_ms)
            if self._queue and cfg.commit_before_delivery:
                self._commit_before_delivery(consumer)
        return consumer

    def _subscribe(self, consumer: KafkaConsumer, listener: _Assigned | None) -> None:
        pattern = self._cfg.pattern
        if pattern is not None:
            consumer.subscribe(pattern=pattern, listener=listener)
        else:
            consumer.subscribe(topics=self._cfg.topics, listener=listener)

    def _await_partitions(self, consumer: KafkaConsumer, timeout_ms: float) -> None:
        """Wait until a reader without a group holds every partition its topics have now.

        Without a group, kafka-python's own I/O thread assigns the subscription
        every partition of its topics (pattern matches included) at each
        metadata update, with no join: the first metadata that covers the
        subscription, and the assignment it brings, take a round trip. Topics
        and partitions that appear later are assigned at a later update and
        start at their beginning (``auto_offset_reset``); a plain topic missing
        now is asked for again every ``retry_backoff_ms``, new pattern matches
        are seen at the next refresh (``metadata_max_age_ms``).
        """
        deadline = time.monotonic() + timeout_ms / 1000
        # The ClusterMetadata of the client open_client made for this consumer.
        cluster = consumer.config["kafka_client"].client.cluster
        with _no_metadata_backoff(cluster):
            if cluster.metadata_refresh_in_progress:
                # That request may predate the subscription: wait for it, then ask again.
                self._await_metadata(cluster.request_update(), deadline)
            if not self._await_metadata(cluster.request_update(), deadline):
                return
        cfg = self._cfg
        match = re.compile(cfg.pattern).match if cfg.pattern is not None else None
        wanted = {
            TopicPartition(topic, p)
            for topic in (cluster.topics() if match is not None else cfg.topics)
            if match is None or match(topic)
            for p in cluster.partitions_for_topic(topic) or ()
        }
        # The metadata listener that assigns them runs just after the answer resolved.
        while not wanted <= consumer.assignment():
            if time.monotonic() > deadline:
                log.warning(
                    "kafka reader: %s not assigned within %.0f ms; still trying",
                    sorted(wanted - consumer.assignment()),
                    timeout_ms,
                )
                return
            time.sleep(_ASSIGN_POLL_S)

    @staticmethod
    def _await_metadata(update: Any, deadline: float) -> bool:
        """Wait for a metadata update (a kafka-python Future); False at the deadline.

        A failed update counts as done: a plain topic that does not exist fails
        the update that asked for it alone.
        """
        done = threading.Event()
        update.add_both(lambda _: done.set())
        if done.wait(max(0.0, deadline - time.monotonic())):
            return True
        log.warning("kafka reader: no metadata from the brokers yet; still trying")
        return False

    def _await_join(
        self, consumer: KafkaConsumer, joined: threading.Event, timeout_ms: float
    ) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        while not joined.is_set() and time.monotonic() < deadline:
            self._enqueue(consumer.poll(timeout_ms=100))
        if not joined.is_set():
            log.warning(
                "kafka reader: group %r not joined within %.0f ms; still trying",
                self._cfg.group_id,
                timeout_ms,
            )

    def _enqueue(self, records: Mapping[TopicPartition, list[Record]]) -> None:
        if records:
            self._queue.extend(records.values())

    def _rewind(self, consumer: KafkaConsumer) -> None:
        """Seek back to the first record not handed over, in every partition."""
        current, handed = self._current, self._handed
        if handed < len(current):
            rec = current[handed]
            consumer.seek(TopicPartition(rec.topic, rec.partition), rec.offset)
        for records in self._queue:
            rec = records[0]
            consumer.seek(TopicPartition(rec.topic, rec.partition), rec.offset)
        self._queue.clear()
        self._current, self._handed = [], 0

    def _close_consumer(self, consumer: KafkaConsumer) -> None:
        try:
            if consumer.assignment():
                self._rewind(consumer)
        except Exception as exc:
            log.warning("kafka reader: could not rewind undelivered records: %s", exc)
        consumer.close(autocommit=bool(self._cfg.consumer.get("enable_auto_commit")))

    def _skip_corrupt(self, consumer: KafkaConsumer, exc: Exception) -> InvalidMessageError | None:
        """For a fetch that found corrupt records: seek past them and say which they were.

        Reading goes on after them, as after any message that cannot be decoded.
        """
        lost: CorruptRecords | None = getattr(exc, "corrupt_records", None)
        if lost is None:
            return None
        tp = lost.partition
        consumer.seek(tp, lost.after)
        count = lost.after - lost.first
        if count == 1:
            lost_records = f"1 record at offset {lost.first}"
        else:
            lost_records = f"{count} records at offsets {lost.first}-{lost.after - 1}"
        return InvalidMessageError(
            f"kafka: {lost_records} of {tp.topic}[{tp.partition}] cannot be decoded, skipped "
            f"(the broker's log is damaged or the data was altered on the way): {exc}"
        )

    def _commit_before_delivery(self, consumer: KafkaConsumer) -> None:
        # AT_MOST_ONCE: a crash after this point loses the batch instead of repeating it.
        try:
            consumer.commit()
        except Exception as exc:
            log.warning("kafka reader: offset commit before delivery failed: %s", exc)

    # -- optional hooks ------------------------------------------------------------
    def metrics(self) -> Any:
        """kafka-python's raw consumer metrics (``{MetricName: KafkaMetric}``)."""
        consumer = self._consumer
        return consumer.metrics(raw=True) if consumer is not None else None

    def reset_metrics(self) -> None:
        """kafka-python metrics cannot be reset; kept for the SPI."""

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """Topics, pattern, group id, client id, bootstrap servers and assignment."""
        cfg = self._cfg
        consumer = self._consumer
        assignment: list[tuple[str, int]] = []
        if consumer is not None:
            assignment = sorted((tp.topic, tp.partition) for tp in consumer.assignment())
        data: Any = {
            "topics": list(cfg.topics),
            "pattern": cfg.pattern,
            "group_id": cfg.group_id,
            "client_id": consumer.config["client_id"]
            if consumer
            else cfg.consumer.get("client_id"),
            "bootstrap_servers": cfg.consumer["bootstrap_servers"],
            "consistency": cfg.consistency,
            "assignment": assignment,
            "open": consumer is not None,
        }
        for name in ipath:
            if not isinstance(data, Mapping) or name not in data:
                return None
            data = data[name]
        return data

    def _seek(self, consumer: KafkaConsumer, to_end: bool) -> None:
        if not consumer.assignment():
            why = (
                "its topics have no partition yet"
                if self._cfg.group_id is None
                else "more readers in the group than partitions?"
            )
            raise SinetError(
                f"kafka reader: no partition is assigned to this reader ({why}); nothing to seek"
            )
        self._queue.clear()
        self._current, self._handed = [], 0
        if to_end:
            consumer.seek_to_end()
        else:
            consumer.seek_to_beginning()
        for tp in consumer.assignment():
            consumer.position(tp)
