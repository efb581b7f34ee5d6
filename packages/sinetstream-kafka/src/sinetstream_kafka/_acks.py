"""Manual acknowledgement for the Kafka reader: commit only what was acknowledged.

With ``enable_manual_ack()`` the reader stops auto-committing; ``ack(record)``
(from any thread) records that the record and every earlier one of its
partition are done, and the reading thread commits those offsets before its
next poll and when the reader closes. A crash redelivers what was not
committed, to the next reader of the same group.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from sinetstream.error import InvalidArgumentError

from ._params import ReaderConfig

__all__ = ["ManualAck"]

log = logging.getLogger("sinetstream_kafka")


class ManualAck:
    """The ``enable_manual_ack`` / ``ack`` capability of the SPI, for a Kafka reader."""

    _cfg: ReaderConfig
    #: Offsets acknowledged, not committed yet (partition -> next offset to read);
    #: ``None`` while manual acknowledgement is off.
    _acked: dict[TopicPartition, int] | None = None

    def enable_manual_ack(self) -> None:
        """From the next ``open()``, commit an offset only once :meth:`ack` covered it."""
        cfg = self._cfg
        if cfg.group_id is None:
            raise InvalidArgumentError(
                "kafka reader: manual acknowledgement commits offsets, which needs a consumer "
                "group: set type_spec.group_id to a name, or to true for one named after "
                "client_id"
            )
        if cfg.commit_before_delivery:
            raise InvalidArgumentError(
                "kafka reader: manual acknowledgement needs consistency AT_LEAST_ONCE "
                "(AT_MOST_ONCE commits before delivery)"
            )
        cfg.consumer["enable_auto_commit"] = False
        self._ack_lock = threading.Lock()
        self._acked = {}

    def ack(self, raw: Any) -> None:
        """``raw`` (a ConsumerRecord) and every earlier record of its partition are done."""
        acked = self._acked
        if acked is None:
            return
        tp = TopicPartition(raw.topic, raw.partition)
        offset = raw.offset + 1
        with self._ack_lock:
            if acked.get(tp, -1) < offset:
                acked[tp] = offset

    def _commit_acked(self, consumer: KafkaConsumer) -> None:
        """Commit what was acknowledged since the last commit (the consumer's thread)."""
        acked = self._acked
        if not acked:
            return
        with self._ack_lock:
            offsets = dict(acked)
            acked.clear()
        try:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except Exception as exc:
            # Committed later with the next ones; a partition taken away by a
            # rebalance is read again by its new owner (at least once).
            owned = consumer.assignment()
            with self._ack_lock:
                for tp, o in offsets.items():
                    if tp in owned and acked.get(tp, -1) < o:
                        acked[tp] = o
            log.warning("kafka reader: committing acknowledged offsets failed: %s", exc)
