"""The fetch step both Kafka readers share: hand over, poll, skip corrupt, commit, watch.

The iterator and the callback reader are two drivers of this one step; they
differ only in how a record reaches the user (``yield`` or ``on_message``)
and in what they do with a failure (raise it, or pass it to ``on_failure``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sinetstream.error import (
    ConnectionError,  # noqa: A004 - sinetstream's name
    SinetError,
)

from ._consumer import ReaderBase, Record
from ._errors import to_sinet_error

__all__ = ["OUTAGE_REPORT_S", "ConnectionWatch", "FetchStep"]

# A reader reports a ConnectionError once no broker connection has existed for
# this long (kafka-python itself keeps reconnecting silently).
OUTAGE_REPORT_S = 2.0
# How long a connection must stay up to end an outage.
_RECONNECTED_S = 1.0


class ConnectionWatch:
    """Tells when a consumer has had no broker connection for a while.

    A connection ends an outage only once it has stayed up for
    :data:`_RECONNECTED_S`: a broker (or proxy) that accepts connections and
    drops them at once is an outage that goes on, not a series of short ones.
    """

    def __init__(
        self, consumer: KafkaConsumer, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._count: Any = None
        for name, metric in (consumer.metrics(raw=True) or {}).items():
            if name.name == "connection-count":
                self._count = metric
        self._clock = clock
        self._down_since: float | None = None
        self._up_since: float | None = None
        self.reported = False

    def outage(self) -> float:
        """Seconds since the connections went down (0 while connected)."""
        if self._count is None:
            return 0.0
        now = self._clock()
        if self._count.value() > 0:
            if self._up_since is None:
                self._up_since = now
            if now - self._up_since >= _RECONNECTED_S:
                self._down_since = None
                self.reported = False
            return 0.0
        self._up_since = None
        if self._down_since is None:
            self._down_since = now
        return now - self._down_since


class FetchStep(ReaderBase):
    """The consumer-thread side of a Kafka reader, one step at a time."""

    #: Acknowledged offsets to commit before the next poll (see ``ManualAck``).
    _acked: dict[TopicPartition, int] | None = None

    def _commit_acked(self, consumer: KafkaConsumer) -> None:
        """Hook: commit acknowledged offsets (manual acknowledgement)."""

    def _handed_over(self, halt: Callable[[], bool] | None = None) -> Iterator[Record]:
        """The queued records, in partition order, counted as handed over.

        Stops before a record when ``halt()`` is true; what was not handed
        over stays known (``_current[_handed:]``) for a rewind or a resume.
        """
        queue = self._queue
        while queue:
            records = queue.popleft()
            self._current, self._handed = records, 0
            for rec in records:
                if halt is not None and halt():
                    return
                self._handed += 1
                yield rec

    def _fetch(
        self, consumer: KafkaConsumer, timeout_ms: float, watch: ConnectionWatch
    ) -> SinetError | None:
        """Poll once and queue what came; return the failure to report, if any.

        The failure is a corrupt batch (already skipped: ``InvalidMessageError``),
        a poll error, or, once per outage, a ``ConnectionError`` saying that no
        broker has been reachable for :data:`OUTAGE_REPORT_S`. A poll error on a
        reader closed meanwhile is no failure.
        """
        if self._acked:
            self._commit_acked(consumer)
        try:
            fetched = consumer.poll(timeout_ms=timeout_ms)
        except Exception as exc:
            if self._consumer is not consumer:
                return None
            error = self._skip_corrupt(consumer, exc) or to_sinet_error(
                exc, f"reading {self._cfg.topics}"
            )
            error.__cause__ = exc
            return error
        if fetched:
            self._queue.extend(fetched.values())
            if self._cfg.commit_before_delivery:
                self._commit_before_delivery(consumer)
        elif not watch.reported and watch.outage() >= OUTAGE_REPORT_S:
            watch.reported = True  # once per outage; the client keeps reconnecting
            return ConnectionError(
                f"kafka: no connection to any broker of "
                f"{self._cfg.consumer['bootstrap_servers']} for {OUTAGE_REPORT_S:.0f} s "
                "while reading; still retrying"
            )
        return None
