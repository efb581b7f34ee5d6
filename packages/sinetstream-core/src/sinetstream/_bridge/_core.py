"""``sinetstream.Bridge``: forward one service's messages to another, at least once."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal

from sinetstream._config import resolve
from sinetstream._message import attached_timestamp
from sinetstream._params import AT_LEAST_ONCE
from sinetstream.error import (
    AuthenticationError,
    AuthorizationError,
    InvalidArgumentError,
    SinetError,
)
from sinetstream.spi import PluginMessage

from ._endpoints import CODEC_PARAMS, SinkWriter, SourceReader, source_client_id
from ._topic_map import TopicMap, parse_rule
from ._window import BridgeMetrics, Entry, Window

__all__ = ["Bridge"]

_log = logging.getLogger("sinetstream.bridge")

Mode = Literal["auto", "passthrough", "reencrypt"]
_MODES = ("auto", "passthrough", "reencrypt")
# How long the reading thread waits for a message or for room before it
# looks at stop() and at failed publishes again.
_POLL_S = 0.2
# Errors a retry cannot fix: the bridge stops with them.
_FATAL = (AuthenticationError, AuthorizationError, InvalidArgumentError)
_PROBE_TOPIC = "sinetstream-bridge-unused"


def _rules(topic_map: Iterable[str] | Mapping[str, str] | None) -> list[tuple[str, str]]:
    if topic_map is None:
        return []
    if isinstance(topic_map, Mapping):
        return [(str(k), str(v)) for k, v in topic_map.items()]
    if isinstance(topic_map, str):
        topic_map = [topic_map]
    return [parse_rule(text) for text in topic_map]


class Bridge:
    """Forward every message of one service to another, at least once.

    ``Bridge("sensors-mqtt", "analytics-kafka", config_file=...)`` reads the
    first service and publishes to the second. A message is acknowledged on
    the source (MQTT PUBACK, Kafka offset commit) only after the destination
    acknowledged it, so an outage of either side or a crash of the bridge
    loses nothing; what was in flight is forwarded again (duplicates are
    possible and counted). At most ``max_in_flight`` messages are in flight:
    while the destination is slow or down, the bridge stops reading.

    ``topic_map``: rules ``'SOURCE=>DESTINATION'`` (see :mod:`._topic_map`;
    MQTT wildcards, ``{1}``, ``{topic}``, ``{key}``), or a mapping; without
    one, the source's configured topics go to the destination's configured
    topic (or to the same topic name). ``mode``: ``passthrough`` forwards the
    message bytes unchanged (no key needed on the bridge, timestamps kept),
    ``reencrypt`` decodes with the source's settings and encodes with the
    destination's; ``auto`` passes through when both services agree on
    crypto, compression, value type and message format. ``key_from_topic``:
    publish with the source topic as the key (default: for a Kafka
    destination, so one device's messages stay in one partition).
    ``from_params`` / ``to_params`` override the services' parameters.

    Use ``run()`` (blocks until ``stop()``), ``await run_async()``, or a
    ``with`` block, which forwards on a background thread until it ends.
    """

    def __init__(
        self,
        from_service: str,
        to_service: str,
        *,
        config_file: Any = None,
        config: str | None = None,
        topic_map: Iterable[str] | Mapping[str, str] | None = None,
        mode: Mode = "auto",
        max_in_flight: int = 1000,
        key_from_topic: bool | None = None,
        from_params: Mapping[str, Any] | None = None,
        to_params: Mapping[str, Any] | None = None,
        drain_timeout: float = 10.0,
    ) -> None:
        if mode not in _MODES:
            raise InvalidArgumentError(f"bridge: mode {mode!r} is not one of {', '.join(_MODES)}")
        if (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise InvalidArgumentError(
                f"bridge: max_in_flight must be an integer >= 1, got {max_in_flight!r}"
            )
        rules = _rules(topic_map)
        source_params: dict[str, Any] = {
            "consistency": AT_LEAST_ONCE,
            "receive_timeout_ms": _POLL_S * 1000,
        }
        source_params.update(from_params or {})
        client_id = source_client_id(from_service, to_service, config, config_file, source_params)
        if client_id is not None:
            source_params["client_id"] = client_id
        self._reader = SourceReader(
            from_service,
            [s for s, _ in rules] or None,
            config,
            config_file,
            **source_params,
        )
        self._sink_params: dict[str, Any] = {"consistency": AT_LEAST_ONCE, **(to_params or {})}
        self._sink_args = (to_service, config, config_file)
        # The destination's own topic, if it has one: where unmapped messages go.
        to_topic = resolve(to_service, config, config_file, self._sink_params).params.get("topic")
        # The writer of that topic; without one, a writer never opened, kept for
        # its parameters and Encoder (the same for every topic of the service).
        probe = SinkWriter(
            to_service, to_topic or _PROBE_TOPIC, config, config_file, **self._sink_params
        )
        self._writers: dict[str, SinkWriter] = {}
        if to_topic:
            self._writers[to_topic] = probe
        self._probe = probe
        self.topic_map = TopicMap(rules, to_topic or None)
        if mode == "auto":
            same = all(self._reader.params.get(k) == probe.params.get(k) for k in CODEC_PARAMS)
            mode = "passthrough" if same else "reencrypt"
        self.mode: Mode = mode
        if key_from_topic is None:
            key_from_topic = probe.params.get("type") == "kafka"
        self.key_from_topic = key_from_topic
        self.from_service, self.to_service = from_service, to_service
        self.drain_timeout = drain_timeout
        self._window = Window(max_in_flight, self._reader.ack)
        self._retry: deque[Entry] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failures = 0  # consecutive failed publishes: the retry back-off
        self._counts = BridgeMetrics()
        self._started = 0.0

    # -- public API ------------------------------------------------------------------------

    @property
    def metrics(self) -> BridgeMetrics:
        """A snapshot of the counters (see :class:`BridgeMetrics`)."""
        c, w = self._counts, self._window
        return BridgeMetrics(
            received=c.received,
            forwarded=w.forwarded,
            acknowledged=w.acknowledged,
            in_flight=len(w),
            retried=c.retried,
            duplicates_suspected=c.duplicates_suspected,
            skipped_invalid=c.skipped_invalid,
            lag_s=w.oldest_age(),
            elapsed_s=time.monotonic() - self._started if self._started else 0.0,
            errors=list(c.errors[-10:]),
        )

    def stop(self) -> None:
        """Ask ``run()`` to stop reading, drain what is in flight and return (any thread)."""
        self._stop.set()

    def run(self) -> BridgeMetrics:
        """Forward until :meth:`stop`; then drain and close. Returns the final metrics.

        Raises a :class:`SinetError` naming the service when forwarding cannot
        go on (authentication, authorization, a source without manual
        acknowledgement, an undecodable message with ``on_invalid_message: raise``).
        """
        self._started = time.monotonic()
        try:
            self._open()
            self._forward()
        finally:
            self._close()
        if self._error is not None:
            raise self._error
        return self.metrics

    async def run_async(self) -> BridgeMetrics:
        """``run()`` on a worker thread; cancelling the task stops and drains the bridge."""
        import asyncio

        task = asyncio.get_running_loop().run_in_executor(None, self.run)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop()
            await task
            raise

    def __enter__(self) -> Bridge:
        self._thread = threading.Thread(target=self._run_in_thread, name="sinetstream-bridge")
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None and exc is None:
            raise self._error

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self._error = exc
            _log.error("bridge %s -> %s stopped: %s", self.from_service, self.to_service, exc)

    # -- the forwarding loop -----------------------------------------------------------------

    def _open(self) -> None:
        for writer in self._writers.values():
            writer.open()
        self._reader.open()

    def _close(self) -> None:
        # Drain: what is in flight may still be acknowledged (and its retries sent).
        deadline = time.monotonic() + self.drain_timeout
        while len(self._window) and time.monotonic() < deadline and self._error is None:
            self._send_retries()
            self._window.wait_empty(_POLL_S)
        if len(self._window):
            _log.warning(
                "bridge: %d messages still in flight at close; they will be read again",
                len(self._window),
            )
        errors: list[BaseException] = []
        for io in (self._reader, *self._writers.values(), self._probe):
            try:
                io.close()
            except Exception as exc:
                errors.append(exc)
        if errors and self._error is None:
            self._error = errors[0]

    def _forward(self) -> None:
        reader, window, stop = self._reader, self._window, self._stop
        passthrough = self.mode == "passthrough"
        destination = self.topic_map.destination
        key_from_topic = self.key_from_topic
        counts = self._counts
        messages = self._messages()
        while not stop.is_set() and self._error is None:
            if self._retry:
                self._send_retries()
            if window.ack_error is not None:
                self._error = self._where_error(
                    "acknowledging on", self.from_service, window.ack_error
                )
                return
            if not window.wait_for_room(_POLL_S):
                continue
            item = next(messages, None)
            if item is None:
                continue
            data, topic, raw = item
            counts.received += 1
            if getattr(raw, "dup", False):
                counts.duplicates_suspected += 1
            if passthrough:
                message = (
                    data
                    if type(data) is PluginMessage
                    else PluginMessage(data, attached_timestamp(data))
                )
            else:
                try:
                    decoded = reader.decode(data)
                except SinetError as exc:
                    raise self._where_error(
                        "decoding a message of", self.from_service, exc
                    ) from exc
                if decoded is None:  # skipped: acknowledged in its turn, not forwarded
                    counts.skipped_invalid += 1
                    skipped = Entry(PluginMessage(b""), "", None, raw)
                    window.add(skipped)
                    window.forwarded_one(skipped, forwarded=False)
                    continue
                message = self._probe.encode(*decoded)
            try:
                dest = destination(topic or "", raw)
            except SinetError as exc:  # no rule for the topic, no key for {key}
                raise self._where_error("routing a message of", self.from_service, exc) from exc
            entry = Entry(message, dest, topic if key_from_topic else None, raw)
            window.add(entry)
            self._publish(entry)

    def _messages(self) -> Iterator[tuple[bytes, str | None, Any] | None]:
        """The source's messages; ``None`` each time it was idle for a while."""
        backoff = 0.1
        while True:
            try:
                for item in self._reader.wire_messages():
                    yield item
                    backoff = 0.1
            except _FATAL as exc:
                raise self._where_error("reading from", self.from_service, exc) from exc
            except SinetError as exc:
                self._note(f"reading from {self.from_service}: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # a plugin's own exception: not known to be transient
                raise self._where_error("reading from", self.from_service, exc) from exc
            yield None

    def _writer(self, topic: str) -> SinkWriter:
        writer = self._writers.get(topic)
        if writer is None:
            service, config, config_file = self._sink_args
            writer = SinkWriter(service, topic, config, config_file, **self._sink_params)
            writer.open()
            self._writers[topic] = writer
        return writer

    def _publish(self, entry: Entry) -> None:
        try:
            promise = self._writer(entry.dest).forward(entry.message, entry.key)
        except _FATAL as exc:
            self._error = self._where_error("publishing to", self.to_service, exc)
            return
        except SinetError as exc:
            self._failed(entry, exc)
            return
        if promise.is_fulfilled:  # already stored (the queue, a Kafka batch done): no callback
            self._forwarded(entry)
            return
        promise.then(lambda _: self._forwarded(entry), lambda exc: self._failed(entry, exc))

    def _forwarded(self, entry: Entry) -> None:
        self._failures = 0
        self._window.forwarded_one(entry)

    def _failed(self, entry: Entry, exc: BaseException) -> None:
        # Any thread (the destination's callbacks): the reading thread sends it again.
        if isinstance(exc, _FATAL):
            self._error = self._where_error("publishing to", self.to_service, exc)
            return
        self._failures += 1
        self._note(f"publishing to {self.to_service}: {exc}")
        self._retry.append(entry)

    def _send_retries(self) -> None:
        """Publish again what the destination failed, oldest first, after a back-off."""
        if not self._retry:
            return
        self._stop.wait(min(0.05 * 2 ** min(self._failures, 6), 2.0))
        batch = sorted(self._drain_retries(), key=lambda e: e.read_at)
        for entry in batch:
            self._counts.retried += 1
            self._publish(entry)

    def _drain_retries(self) -> Iterator[Entry]:
        retry = self._retry
        while retry:
            yield retry.popleft()

    def _note(self, text: str) -> None:
        _log.warning("bridge: %s", text)
        errors = self._counts.errors
        errors.append(text)
        if len(errors) > 100:
            del errors[:50]

    def _where_error(self, doing: str, service: str, exc: BaseException) -> SinetError:
        text = (
            f"bridge {self.from_service} -> {self.to_service}: {doing} service {service!r}: {exc}"
        )
        error: SinetError = SinetError(text)
        if isinstance(exc, SinetError):
            # A subclass with another constructor keeps the root class.
            with contextlib.suppress(TypeError):
                error = type(exc)(text)
        error.__cause__ = exc
        return error
