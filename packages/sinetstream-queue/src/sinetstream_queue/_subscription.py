"""A reader's side of the in-process broker: cursors, acknowledgements, the batch in hand."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._broker import Broker, Record

__all__ = ["Subscription"]


class _Batch:
    """Records taken from one topic; ``next`` of them were handed out, ``passed`` counted."""

    __slots__ = ("next", "passed", "records", "size", "topic")

    def __init__(self, topic: str, records: list[Record]) -> None:
        self.topic = topic
        self.records = records
        self.size = len(records)
        self.next = 0  # moved by the reading thread alone, without the lock
        self.passed = 0  # moved under the lock


_NO_BATCH = _Batch("", [])


class Subscription:
    """A reader's cursors over one or more topics of a :class:`Broker`.

    One thread reads (:meth:`get`); any thread may seek, acknowledge or close.
    """

    def __init__(self, broker: Broker, topics: Iterable[str], manual_ack: bool = False) -> None:
        self._broker = broker
        self._topics = list(dict.fromkeys(topics))
        self._cursor: dict[str, int] = {}  # topic -> next offset not yet passed
        # Manual acknowledgement: topic -> first offset not acknowledged.
        self._acked: dict[str, int] | None = {} if manual_ack else None
        self._batch = _NO_BATCH
        self._next = 0  # round-robin start, so one busy topic cannot starve another
        self._streaming = False  # its last take found a record: it lingers before waiting
        self.closed = False
        self.manual_ack = manual_ack

    @property
    def topics(self) -> list[str]:
        """The subscribed topic names."""
        return list(self._topics)

    def records(self, timeout: float | None) -> Iterator[Record | None]:
        """Every record on the subscribed topics in turn, and ``None`` each time
        ``timeout`` seconds pass without one; ends when the subscription closes.

        The reading thread's loop: the batch in hand is handed out here, a
        generator step per record rather than a call (a call costs more).
        """
        take = self._broker._get
        while not self.closed:
            batch = self._batch
            i = batch.next
            if i < batch.size:
                batch.next = i + 1
                yield batch.records[i]
            else:
                yield take(self, timeout)

    def get(self, timeout: float | None) -> Record | None:
        """The next record on any subscribed topic; ``None`` after ``timeout`` seconds."""
        return next(self.records(timeout), None)

    def seek(self, to_end: bool) -> None:
        """Move every cursor to the oldest retained record, or past the newest."""
        self._broker._seek(self, to_end)

    def ack(self, record: Record) -> None:
        """Manual acknowledgement: ``record`` and every earlier one of its topic are done."""
        self._broker._ack(self, record)

    def close(self) -> None:
        """Stop reading; the subscription's cursors no longer hold messages back.

        With manual acknowledgement, messages not acknowledged stay in the topic
        for the next subscriber when no other reader has passed them.
        """
        self._broker._unsubscribe(self)

    # The methods below run under the broker's lock.

    def _holds(self, topic: str) -> int:
        """The oldest offset of ``topic`` this subscription still needs."""
        acked = self._acked
        if acked is None:
            return self._cursor[topic]
        return min(self._cursor[topic], acked[topic])

    def _settle(self) -> str:
        """Move the cursor past the records handed out so far; the batch's topic."""
        batch = self._batch
        handed = min(batch.next, batch.size)
        if handed > batch.passed:
            self._cursor[batch.topic] += handed - batch.passed
            batch.passed = handed
        return batch.topic

    def _start_batch(self, topic: str, records: list[Record]) -> Record:
        """Hand out ``records`` (not empty) from now on; the first one."""
        batch = _Batch(topic, records)
        batch.next = 1
        self._batch = batch
        return records[0]

    def _drop_batch(self) -> None:
        self._batch = _NO_BATCH
