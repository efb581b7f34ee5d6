"""sinetstream-queue: the embedded, in-process backend (``type: queue``).

No broker to run: readers and writers in one process exchange messages
through named in-process brokers. It passes the same conformance suite as
the Kafka and MQTT backends, so applications can run their tests on it::

    from sinetstream import MessageReader, MessageWriter

    with MessageReader(no_config=True, type="queue", topics="t", receive_timeout_ms=100) as r:
        with MessageWriter(no_config=True, type="queue", topic="t") as w:
            w.publish(b"hello")
        assert [m.value for m in r] == [b"hello"]

Call :func:`reset` between tests for a clean broker.
"""

from __future__ import annotations

from ._broker import Broker, QueueFullError, Record, broker, reset
from ._plugin import QueueAsyncReader, QueueAsyncWriter, QueueReader, QueueWriter
from ._version import SPI_VERSION_REQUIRED, __version__

__all__ = [
    "Broker",
    "QueueAsyncReader",
    "QueueAsyncWriter",
    "QueueFullError",
    "QueueReader",
    "QueueWriter",
    "Record",
    "SPI_VERSION_REQUIRED",
    "__version__",
    "broker",
    "reset",
]
