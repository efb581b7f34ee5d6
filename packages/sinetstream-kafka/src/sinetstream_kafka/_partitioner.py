"""The writers' default partitioner: kafka-python's, with the keyless path cached.

kafka-python's ``DefaultPartitioner`` rebuilds a topic's partition sets (two
sets, a sort and a list) for every record: a tenth of ``send()`` at 1 KiB.
This one makes the same choices, from a per-topic tuple of available
partitions rebuilt whenever the producer's metadata is updated:

* a record with a key goes where ``DefaultPartitioner`` (murmur2, as the Java
  client) sends it, so keyed ordering matches every other Kafka client;
* a record without a key goes to a random partition among those with a
  leader (all partitions when none has one), as ``DefaultPartitioner`` does.

A leader learnt from a produce response between two metadata updates (KIP-951)
is picked up at the next update; until then that partition is left out of the
keyless choice, never chosen while leaderless.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from kafka.partitioner.abc import Partitioner
from kafka.partitioner.default import DefaultPartitioner

__all__ = ["CachedPartitioner"]


class CachedPartitioner(Partitioner):  # type: ignore[misc]  # kafka-python is untyped
    """``DefaultPartitioner``'s choices, without per-record set building."""

    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._pools: dict[str, tuple[int, ...]] = {}
        self._generation = 0  # bumped by each metadata update
        self._cluster: Any = None
        self._lock = threading.Lock()

    def partition(  # noqa: PLR0917 - kafka-python's Partitioner signature
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is not None:
            chosen: int = self._default.partition(
                topic, key, serialized_key, value, serialized_value, cluster
            )
            return chosen
        pool = self._pools.get(topic) if cluster is self._cluster else None
        if pool is None:
            pool = self._pool(topic, cluster)
        return pool[0] if len(pool) == 1 else random.choice(pool)

    def _pool(self, topic: str, cluster: Any) -> tuple[int, ...]:
        with self._lock:
            if cluster is not self._cluster:
                cluster.add_listener(self._metadata_updated)
                self._cluster = cluster
                self._pools = {}
            generation = self._generation
        if topic not in cluster.topics():
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        available = cluster.available_partitions_for_topic(topic)
        pool = tuple(sorted(available or cluster.partitions_for_topic(topic)))
        with self._lock:
            # Kept only if no update came in meanwhile (else rebuilt next time).
            if generation == self._generation and cluster is self._cluster:
                self._pools[topic] = pool
        return pool

    def _metadata_updated(self, cluster: Any) -> None:
        with self._lock:
            self._generation += 1
            self._pools = {}
