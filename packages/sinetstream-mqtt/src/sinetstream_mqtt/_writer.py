"""The MQTT writers: a blocking publish and a Promise-returning publish."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sinetstream.error import ConnectionError as SinetConnectionError
from sinetstream.error import NotConnectedError, SinetError
from sinetstream.spi import (
    ConfigVersion,
    PluginAsyncMessageWriter,
    PluginMessageWriter,
    PublishPromise,
)

from ._client import BufferedClient
from ._connection import MqttConnection
from ._errors import reason_error
from ._headers import publish_properties

__all__ = ["MqttAsyncWriter", "MqttWriter"]

_OK = mqtt.MQTT_ERR_SUCCESS
_NO_CONN = mqtt.MQTT_ERR_NO_CONN
_QUEUE_SIZE = mqtt.MQTT_ERR_QUEUE_SIZE
# A sync publish re-checks the connection this often while it waits.
_WAIT_SLICE = 0.5


class _WriterBase(MqttConnection):
    _role = "writer"

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        s = self._settings
        assert s.topic is not None
        self._topic: str = s.topic
        self._topic_bytes = s.topic.encode()
        self._qos = s.qos
        self._retain = s.retain
        self._queue_offline = s.offline_publish == "queue"
        #: MQTT 5 sends ``message.headers`` as user properties (the SPI's headers hook).
        self.supports_headers = s.is_v5

    def reset_metrics(self) -> None:
        super().reset_metrics()
        self._published = 0
        self._failed = 0

    def _disconnected_error(self) -> NotConnectedError:
        return NotConnectedError(
            f"not connected to MQTT broker {self._settings.address} (paho is reconnecting); "
            "set offline_publish: queue to keep QoS 1/2 messages until it is back"
        )

    def _queue_full_error(self) -> SinetError:
        return SinetError(
            "the outgoing MQTT queue is full (max_queued_messages="
            f"{self._settings.max_queued_messages}); the message was not sent"
        )


class MqttWriter(_WriterBase, PluginMessageWriter):
    """Synchronous MQTT writer (entry point ``sinetstream.writer: mqtt``).

    ``publish`` returns paho's ``MQTTMessageInfo`` once the broker acknowledged
    the message (PUBACK/PUBCOMP) or, at QoS 0, once it was written to the socket.
    """

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        # mid -> failure code of an MQTT 5 PUBACK/PUBCOMP, read by publish().
        self._rejected: dict[int, ReasonCode] = {}

    def _role_metrics(self) -> dict[str, Any]:
        client = self._client
        return {
            "published": self._published,
            "failed": self._failed,
            "queued": len(client._out_messages) if client is not None else 0,
        }

    def _install_callbacks(self, client: BufferedClient) -> None:
        self._rejected = {}
        if self._settings.is_v5:  # only MQTT 5 acknowledgements carry a failure code
            client.on_publish = self._on_publish

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # Runs before paho marks the message published, so the waiting
        # publish() sees the code as soon as it wakes up.
        if reason.is_failure:
            self._rejected[mid] = reason
        elif self._rejected:
            # A failure left by a publish() that gave up early must not be
            # blamed on a later message that reuses its packet id.
            self._rejected.pop(mid, None)

    def publish(self, message: bytes) -> mqtt.MQTTMessageInfo:
        """Publish ``message`` and wait for the broker; raise a SinetError if it fails."""
        client = self._client
        if client is None:
            raise SinetConnectionError("the MQTT writer is not open")
        if not self._queue_offline and not client.is_connected():
            self._failed += 1
            raise self._disconnected_error()
        headers = getattr(message, "headers", None)
        props = publish_properties(headers) if headers else None
        info = client.publish_bytes(self._topic_bytes, message, self._qos, self._retain, props)
        rc = info.rc
        if rc != _OK:
            if rc == _QUEUE_SIZE:
                self._failed += 1
                raise self._queue_full_error()
            if rc != _NO_CONN or self._qos == 0:
                self._failed += 1
                failure = NotConnectedError if rc == _NO_CONN else SinetConnectionError
                raise failure(f"MQTT publish failed: {mqtt.error_string(rc)}")
            # QoS 1/2 while disconnected: paho keeps the message and sends it
            # after reconnecting; wait for that like for any other message.
            info.rc = _OK
        elif self._qos == 0:
            client.write_now()  # then it is published already: no wait below
        timeout = self._settings.publish_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _WAIT_SLICE
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            try:
                info.wait_for_publish(max(wait, 0.0))
                done = info.is_published()
            except RuntimeError as exc:  # paho: the client is not connected
                self._failed += 1
                raise NotConnectedError(f"MQTT publish failed: {exc}") from None
            except ValueError as exc:
                self._failed += 1
                raise SinetConnectionError(f"MQTT publish failed: {exc}") from None
            if done:
                break
            if not self._queue_offline and not client.is_connected():
                self._failed += 1
                raise NotConnectedError(
                    f"lost the connection to MQTT broker {self._settings.address} before it "
                    "acknowledged the message (paho resends it after reconnecting)"
                )
            if deadline is not None and time.monotonic() >= deadline:
                self._failed += 1
                raise SinetConnectionError(
                    f"MQTT broker {self._settings.address} did not acknowledge the message "
                    f"within publish_timeout={timeout:g}s"
                )
        if self._rejected:
            reason = self._rejected.pop(info.mid, None)
            if reason is not None:
                self._failed += 1
                raise reason_error(f"publishing to {self._topic}", reason)
        self._published += 1
        return info


class MqttAsyncWriter(_WriterBase, PluginAsyncMessageWriter):
    """Asynchronous MQTT writer (entry point ``sinetstream.async_writer: mqtt``).

    ``publish`` returns a ``promise.Promise`` resolved with paho's
    ``MQTTMessageInfo`` when the broker acknowledged the message (QoS 1/2) or
    it was written to the socket (QoS 0), and rejected with a SinetError when
    it cannot be sent.
    """

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        super().__init__(confver, params)
        # mid -> (promise, info) for messages handed to paho and not yet settled.
        self._pending: dict[int, tuple[PublishPromise, mqtt.MQTTMessageInfo]] = {}
        # Acknowledgements that arrived before publish() registered the mid.
        self._early: dict[int, ReasonCode] = {}

    def _role_metrics(self) -> dict[str, Any]:
        return {
            "published": self._published,
            "failed": self._failed,
            "inflight": len(self._pending),
        }

    def _install_callbacks(self, client: BufferedClient) -> None:
        # QoS 0 has no acknowledgement: its promise settles when paho took the
        # message (see publish). Not installing on_publish then matters: paho
        # builds a ReasonCode and a Properties object per QoS 0 write for it,
        # which costs about as much as the publish itself.
        if self._qos > 0:
            client.on_publish = self._on_publish

    def publish(self, message: bytes) -> PublishPromise:
        """Start publishing ``message``; return a Promise settled by the broker's answer."""
        promise = PublishPromise()
        client = self._client
        if client is None:
            promise.do_reject(SinetConnectionError("the MQTT writer is not open"))
            return promise
        if not self._queue_offline and not client.is_connected():
            self._failed += 1
            promise.do_reject(self._disconnected_error())
            return promise
        headers = getattr(message, "headers", None)
        props = publish_properties(headers) if headers else None
        info = client.publish_bytes(self._topic_bytes, message, self._qos, self._retain, props)
        rc = info.rc
        if rc != _OK:
            if rc == _QUEUE_SIZE:
                self._failed += 1
                promise.do_reject(self._queue_full_error())
                return promise
            if rc != _NO_CONN or self._qos == 0:
                self._failed += 1
                error = SinetConnectionError(f"MQTT publish failed: {mqtt.error_string(rc)}")
                promise.do_reject(error)
                return promise
            info.rc = _OK  # QoS 1/2: queued by paho, settled after reconnecting
        if self._qos == 0:
            self._published += 1
            promise.do_resolve(info)
            return promise
        # Lock-free hand-over with _on_publish (paho's thread): each side
        # stores into its own dict, then pops the other's; dict.pop is atomic,
        # so exactly one side obtains the entry and settles the promise.
        mid = info.mid
        pending = self._pending
        pending[mid] = (promise, info)
        if self._early:
            reason = self._early.pop(mid, None)
            if reason is not None:
                entry = pending.pop(mid, None)
                if entry is not None:
                    self._settle(promise, info, reason)
        return promise

    def _settle(self, promise: PublishPromise, info: Any, reason: ReasonCode) -> None:
        if reason.is_failure:
            self._failed += 1
            promise.do_reject(reason_error(f"publishing to {self._topic}", reason))
        else:
            self._published += 1
            promise.do_resolve(info)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        entry = self._pending.pop(mid, None)
        if entry is None:
            self._early[mid] = reason
            entry = self._pending.pop(mid, None)
            if entry is None:
                return
            self._early.pop(mid, None)
        self._settle(entry[0], entry[1], reason)

    def _before_close(self) -> None:
        # Give in-flight messages close_timeout to be acknowledged.
        deadline = time.monotonic() + self._settings.close_timeout
        while self._pending and self.is_connected and time.monotonic() < deadline:
            time.sleep(0.005)

    def _after_close(self) -> None:
        left = []
        for mid in list(self._pending):
            entry = self._pending.pop(mid, None)
            if entry is not None:
                left.append(entry)
        self._early.clear()
        for promise, _ in left:
            self._failed += 1
            promise.do_reject(
                SinetConnectionError(
                    "the MQTT writer was closed before the broker acknowledged the message"
                ),
            )
