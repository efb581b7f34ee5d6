"""Kafka writers: the sync one waits for the broker, the async one returns a Promise."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import kafka.errors as kerr
from kafka import KafkaProducer
from sinetstream.error import InvalidArgumentError, NotOpenError, SinetError
from sinetstream.spi import (
    ConfigVersion,
    PluginAsyncMessageWriter,
    PluginMessageWriter,
    PublishPromise,
)

from ._errors import kafka_errors, open_client, to_sinet_error
from ._fast_lane import Lane, lane_for, metadata
from ._headers import with_carried
from ._params import WriterConfig, writer_config
from ._partitioner import CachedPartitioner

__all__ = ["KafkaAsyncWriter", "KafkaWriter"]

# What a sync publish turns into a SinetError; anything else is a bug, raised as it is.
_PUBLISH_ERRORS = (kerr.KafkaError, ValueError, TypeError, OSError)

Headers = Mapping[str, bytes | str] | Iterable[tuple[str, bytes | str]]


def _key(key: object) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise InvalidArgumentError(f"kafka: key must be bytes or str, not {type(key).__name__}")


def _headers(headers: Headers | None) -> list[tuple[str, bytes]] | None:
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"kafka: header names must be str, not {name!r}")
        if isinstance(value, str):
            out.append((name, value.encode("utf-8")))
        elif isinstance(value, bytes):
            out.append((name, value))
        else:
            raise InvalidArgumentError(
                f"kafka: header {name!r} must be bytes or str, not {type(value).__name__}"
            )
    return out


class _KafkaPromise(PublishPromise):
    """The async writer's promise, following one kafka-python FutureRecordMetadata."""

    _doing = "publishing"  # set per writer by a subclass
    _record: Any = None  # the FutureRecordMetadata (None on chained promises)

    def _failed(self, exc: BaseException) -> None:
        self.do_reject(to_sinet_error(exc, self._doing))

    def _fetch(self) -> None:
        self._record.add_callback(self.do_resolve)


class _LanePromise(_KafkaPromise):
    """The promise of a record that went through the fast lane (see :mod:`._fast_lane`)."""

    _batch: Any = None  # the LaneBatch
    _args: tuple[int, int, int, int, int] = (0, 0, -1, -1, -1)  # index, timestamp, sizes
    _observed = False

    def _fetch(self) -> None:
        self._observed = True
        if self._record is not None:  # the batch was split: follow the record's own future
            self._record.add_callback(self.do_resolve)
        else:
            self._batch.produce_future.add_callback(self._produced)

    def _produced(self, result: Any) -> None:
        if result[2] is None and self._batch._futures is None:  # else rejected, or split
            self.do_resolve(metadata(self._batch.topic_partition, result, self._args))

    def _follow(self, future: Any) -> None:
        """Settle with ``future`` from now on (kafka-python split this record's batch)."""
        self._record = future
        future.add_errback(self._failed)
        if self._observed:
            future.add_callback(self.do_resolve)


class _WriterBase:
    """Shared open/close/metrics of both writers."""

    #: ``message.headers`` go out as record headers (the SPI's headers hook).
    supports_headers = True

    def __init__(self, confver: ConfigVersion, params: dict[str, Any]) -> None:
        self._cfg: WriterConfig = writer_config(confver, params)
        self._topic = self._cfg.topic
        self._doing = f"publishing to {self._topic!r}"  # in errors
        self._producer: KafkaProducer | None = None
        # Bound at open(): the hot path calls it without attribute lookups.
        self._send: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Connect; raises ConnectionError within ``bootstrap_timeout_ms``."""
        with self._lock:
            if self._producer is not None:
                return
            config = dict(self._cfg.producer)
            config.setdefault("partitioner", CachedPartitioner())
            producer = open_client(KafkaProducer, config)
            if self._cfg.transactional:
                closing = functools.partial(producer.close, timeout=0)
                with kafka_errors("starting the transactional producer", cleanup=closing):
                    producer.init_transactions()
            self._producer = producer
            self._send = producer.send

    def close(self) -> None:
        """Flush pending messages and disconnect (idempotent)."""
        with self._lock:
            producer, self._producer, self._send = self._producer, None, None
        if producer is not None:
            try:
                producer.flush()
            finally:
                producer.close()

    def metrics(self) -> Any:
        """kafka-python's raw producer metrics (``{MetricName: KafkaMetric}``)."""
        producer = self._producer
        return producer.metrics(raw=True) if producer is not None else None

    def reset_metrics(self) -> None:
        """kafka-python metrics cannot be reset; kept for the SPI."""

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """Topic, bootstrap servers, client id, acks and idempotence in use."""
        config = self._cfg.producer
        producer = self._producer
        data: dict[str, Any] = {
            "topic": self._topic,
            "bootstrap_servers": config["bootstrap_servers"],
            "client_id": producer.config["client_id"] if producer else config.get("client_id"),
            "consistency": self._cfg.consistency,
            "acks": producer.config["acks"] if producer else config.get("acks"),
            "enable_idempotence": (
                producer.config["enable_idempotence"]
                if producer
                else config.get("enable_idempotence")
            ),
            "transactional": self._cfg.transactional,
            "open": producer is not None,
        }
        for name in ipath:
            if not isinstance(data, Mapping) or name not in data:
                return None
            data = data[name]
        return data

    def _not_open(self) -> NotOpenError:
        return NotOpenError("kafka writer is not open: call open() (or use 'with') first")

    def _prepare(
        self, message: bytes, key: bytes | str | None, headers: Headers | None
    ) -> tuple[Callable[..., Any], bytes, bytes | None, list[tuple[str, bytes]] | None]:
        """The send function and its arguments; raises NotOpenError when closed."""
        send = self._send
        if send is None:
            raise self._not_open()
        carried = getattr(message, "headers", None)  # set by the core: the trace context
        if carried:
            headers = with_carried(headers, carried)
        if type(message) is not bytes:
            message = bytes(message)  # kafka-python accepts exact bytes only
        if key is None and headers is None:
            return send, message, None, None
        return send, message, _key(key), _headers(headers)


class KafkaWriter(_WriterBase, PluginMessageWriter):
    """``type: kafka`` synchronous writer: ``publish`` returns the RecordMetadata."""

    def publish(
        self,
        message: bytes,
        *,
        key: bytes | str | None = None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> Any:
        """Send one message and wait for the broker's acknowledgement."""
        send, message, key, hdrs = self._prepare(message, key, headers)
        producer = self._producer
        if not (self._cfg.transactional and producer is not None):
            with kafka_errors(self._doing, _PUBLISH_ERRORS):
                return send(self._topic, message, key, hdrs, partition).get()
        with kafka_errors(self._doing, _PUBLISH_ERRORS, self._abort):
            producer.begin_transaction()
            metadata = send(self._topic, message, key, hdrs, partition).get()
            producer.commit_transaction()
            return metadata

    def _abort(self) -> None:
        with contextlib.suppress(Exception):  # the original error is what matters
            if self._producer is not None:
                self._producer.abort_transaction()


class KafkaAsyncWriter(_WriterBase, PluginAsyncMessageWriter):
    """``type: kafka`` asynchronous writer: ``publish`` returns a Promise at once.

    The Promise resolves with the RecordMetadata, or rejects with a SinetError.
    """

    def __init__(self, confver: ConfigVersion, params: dict[str, Any]) -> None:
        super().__init__(confver, params)
        if self._cfg.transactional:
            raise InvalidArgumentError(
                "kafka: transactional_id is supported by the synchronous writer only; "
                "the async writer uses the idempotent producer for EXACTLY_ONCE"
            )
        # This writer's promise classes: what it publishes to is a class attribute,
        # so a promise needs no per-message closure to name it in errors.
        doing = {"_doing": self._doing}
        self._promise_cls: type[_KafkaPromise] = type(
            "KafkaPublishPromise", (_KafkaPromise,), doing
        )
        self._lane_promise_cls: type[_LanePromise] = type(
            "KafkaPublishPromise", (_LanePromise,), doing
        )
        self._lane: Lane | None = None

    def open(self) -> None:
        """Connect; the fast lane is chosen here (see :mod:`._fast_lane`)."""
        super().open()
        producer = self._producer
        if producer is not None and self._lane is None:
            self._lane = lane_for(producer, self._topic)

    def close(self) -> None:
        """Flush pending messages and disconnect (idempotent)."""
        self._lane = None
        super().close()

    def publish(
        self,
        message: bytes,
        *,
        key: bytes | str | None = None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> PublishPromise:
        """Start sending one message; the Promise settles when the broker answers."""
        send, message, key, hdrs = self._prepare(message, key, headers)
        lane = self._lane
        if lane is not None:
            lane_promise = self._lane_promise_cls()
            try:
                taken = lane.append(lane_promise, message, key, partition, hdrs)
            except Exception as exc:
                lane_promise._failed(exc)
                return lane_promise
            if taken:
                lane_promise.resolve_when_observed(lane_promise._fetch)
                return lane_promise
        promise = self._promise_cls()
        try:
            future = send(self._topic, message, key, hdrs, partition)
        except SinetError:
            raise
        except Exception as exc:
            promise._failed(exc)
            return promise
        # Failures settle at once (metrics, on_failure); a success is fetched from
        # the future only if somebody looks at the promise, so fire-and-forget
        # publishing leaves the sender thread no settling to do.
        promise._record = future
        future.add_errback(promise._failed)
        promise.resolve_when_observed(promise._fetch)
        return promise
