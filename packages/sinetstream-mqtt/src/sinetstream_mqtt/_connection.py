"""One paho-mqtt 2.x client: build, connect (CONNACK, SUBACK), reconnect, close.

The reader and writer classes subclass :class:`MqttConnection` and add their
message path. paho runs its network loop in its own thread (``loop_start``)
and reconnects by itself with ``reconnect_delay``; this class turns what it
reports into sinetstream errors.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sinetstream.error import (
    AlreadyConnectedError,
    AuthenticationError,
    InvalidArgumentError,
    SinetError,
)
from sinetstream.error import (
    ConnectionError as SinetConnectionError,
)
from sinetstream.spi import ConfigVersion

from ._client import BufferedClient
from ._errors import AUTH_REFUSED, connect_errors, reason_error
from ._params import MqttSettings, Role, parse_settings

__all__ = ["MqttConnection"]

log = logging.getLogger("sinetstream_mqtt")


class MqttConnection:
    """The shared life cycle of the four plugin classes."""

    _role: Role = "writer"
    #: Acknowledge QoS 1/2 messages ourselves (client.ack) instead of paho
    #: doing it when on_message returns.
    _manual_ack = False

    def __init__(self, confver: ConfigVersion, params: Mapping[str, Any]) -> None:
        self._settings: MqttSettings = parse_settings(confver, params, self._role)
        self._client: BufferedClient | None = None
        self._closing = False
        # Set when open() may return (CONNACK, plus SUBACK for readers) or fail.
        self._ready = threading.Event()
        self._open_error: SinetError | None = None
        self._opened = False
        self._session_present = False
        self._sub_mid: int | None = None
        # Counts CONNACKs: tells which connection a received message came on.
        self._generation = 0
        self._last_disconnect: str | None = None
        self._counters: dict[str, int] = {}
        self.reset_metrics()

    # -- public plugin hooks --------------------------------------------------

    def reset_metrics(self) -> None:
        """Zero the plugin's own counters (connection counters included)."""
        self._connects = 0
        self._disconnects = 0
        self._counters = {}

    def metrics(self) -> dict[str, Any]:
        """Counters of this client: connects, reconnects, disconnects, and per-role ones."""
        out: dict[str, Any] = {
            "connects": self._connects,
            "reconnects": max(self._connects - 1, 0),
            "disconnects": self._disconnects,
            "connected": self.is_connected,
        }
        out.update(self._role_metrics())
        return out

    def info(self, ipath: list[str], kwargs: Mapping[str, Any]) -> Any:
        """Connection details: broker, client_id, protocol, transport, qos, topics, state."""
        s = self._settings
        data: dict[str, Any] = {
            "broker": s.address,
            "client_id": s.client_id,
            "protocol": s.protocol.name,
            "transport": s.transport,
            "qos": s.qos,
            "tls": s.tls is not None,
            "connected": self.is_connected,
            "session_present": self._session_present,
            "metrics": self.metrics(),
        }
        if s.role == "writer":
            data["topic"] = s.topic
            data["retain"] = s.retain
        else:
            data["topics"] = list(s.topics)
        node: Any = data
        for part in ipath:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    @property
    def is_connected(self) -> bool:
        """True while the client has a live connection (CONNACK received)."""
        client = self._client
        return client is not None and client.is_connected()

    # -- open / close ---------------------------------------------------------

    def _build_client(self) -> BufferedClient:
        s = self._settings
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=s.clean_session,
            protocol=s.protocol,
            transport=s.transport,
            manual_ack=self._manual_ack,
        )
        client.connect_timeout = s.connection_timeout
        if s.transport == "websockets" and (s.ws_path is not None or s.ws_headers is not None):
            client.ws_set_options(path=s.ws_path or "/mqtt", headers=s.ws_headers)
        if s.tls is not None:
            try:
                client.tls_set(**s.tls)
            except FileNotFoundError as exc:
                raise InvalidArgumentError(
                    f"tls: file not found: {exc.filename} (check ca_certs, certfile, keyfile)"
                ) from None
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"tls: cannot load the certificates or key: {exc}"
                ) from None
            if s.tls_insecure is not None:
                client.tls_insecure_set(s.tls_insecure)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.max_inflight_messages is not None:
            client.max_inflight_messages_set(s.max_inflight_messages)
        if s.max_queued_messages is not None:
            client.max_queued_messages_set(s.max_queued_messages)
        if s.reconnect_delay is not None:
            # paho types these as int but only does arithmetic and sleeps on them.
            client.reconnect_delay_set(s.reconnect_delay[0], s.reconnect_delay[1])  # type: ignore[arg-type]
        if s.will is not None:
            will_props = None
            if s.will.delay_interval is not None:
                will_props = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
                will_props.WillDelayInterval = s.will.delay_interval
            client.will_set(
                s.will.topic, s.will.payload, s.will.qos, s.will.retain, properties=will_props
            )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        if self._role == "reader":
            client.on_subscribe = self._on_subscribe
        self._install_callbacks(client)
        return client

    def _install_callbacks(self, client: BufferedClient) -> None:
        """Role hook: set on_message / on_publish / after_read."""

    def _role_metrics(self) -> dict[str, Any]:
        return {}

    def open(self) -> None:
        """Connect; return after CONNACK (and, for readers, SUBACK)."""
        if self._client is not None:
            raise AlreadyConnectedError("the MQTT client is already open")
        s = self._settings
        client = self._build_client()
        self._closing = False
        self._ready.clear()
        self._open_error = None
        self._opened = False
        deadline = time.monotonic() + s.connection_timeout
        with connect_errors(s, cleanup=client.disconnect):
            if s.is_v5:
                client.connect(
                    s.host,
                    s.port,
                    s.keepalive,
                    clean_start=s.clean_start,  # type: ignore[arg-type]
                    properties=s.build_connect_properties(),
                )
            else:
                client.connect(s.host, s.port, s.keepalive)
        self._client = client
        client.loop_start()
        ok = self._ready.wait(max(deadline - time.monotonic(), 0.0))
        error = self._open_error
        if not ok or error is not None:
            self._shutdown()
            if error is not None:
                raise error
            what = "SUBACK" if self._role == "reader" and self._connects else "CONNACK"
            cause = f" (last disconnect: {self._last_disconnect})" if self._last_disconnect else ""
            raise SinetConnectionError(
                f"MQTT broker {s.address} sent no {what} within connection_timeout="
                f"{s.connection_timeout:g}s{cause}"
            )
        self._opened = True

    def close(self) -> None:
        """Disconnect and stop the network thread; safe to call twice."""
        if self._client is None:
            return
        self._before_close()
        self._shutdown()
        self._after_close()

    def _before_close(self) -> None:
        """Role hook: flush before disconnecting."""

    def _after_close(self) -> None:
        """Role hook: release waiters after the network thread stopped."""

    def _shutdown(self) -> None:
        client = self._client
        self._closing = True
        if client is None:
            return
        client.disconnect()
        client.loop_stop()
        self._client = None

    # -- paho callbacks (network thread) -------------------------------------

    def _fail_open(self, error: SinetError) -> None:
        if not self._ready.is_set():
            self._open_error = error
            self._ready.set()
        else:
            self._report_failure(error)

    def _report_failure(self, error: SinetError) -> None:
        """Role hook: a failure after open() returned (e.g. async reader on_failure)."""
        log.warning("%s", error)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        s = self._settings
        if reason.is_failure:
            what = f"MQTT broker {s.address} refused the connection: {reason.getName()}"
            if reason.value in AUTH_REFUSED:
                self._fail_open(
                    AuthenticationError(f"{what} (check username_pw or the client certificate)")
                )
            else:
                self._fail_open(SinetConnectionError(what))
            if not self._opened:
                # Stop paho from retrying while open() tears the client down.
                client.disconnect()
            return
        self._connects += 1
        self._session_present = flags.session_present
        self._generation += 1
        if self._role == "reader":
            # Subscribe on every connect: a clean session forgets subscriptions.
            if s.is_v5:
                opts = SubscribeOptions(qos=s.qos)
                subs: list[tuple[str, Any]] = [(t, opts) for t in s.topics]
            else:
                subs = [(t, s.qos) for t in s.topics]
            rc, mid = client.subscribe(subs)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._fail_open(SinetConnectionError(f"cannot subscribe: {mqtt.error_string(rc)}"))
                return
            self._sub_mid = mid
        else:
            self._ready.set()
        self._connected_hook()

    def _connected_hook(self) -> None:
        """Role hook: called in the network thread after each successful CONNACK."""

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._sub_mid:
            return
        denied = [t for t, r in zip(self._settings.topics, reasons, strict=False) if r.is_failure]
        if denied:
            first = next(r for r in reasons if r.is_failure)
            error = reason_error(f"subscribing to {', '.join(denied)}", first)
            if self._ready.is_set():  # a reconnect, or open() returned on a full buffer
                self._subscription_refused(error)
            else:
                self._fail_open(error)
            return
        self._ready.set()

    def _subscription_refused(self, error: SinetError) -> None:
        """Role hook: a SUBACK refused a topic after open() returned."""
        self._report_failure(error)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._last_disconnect = reason.getName()
        if self._closing:
            return
        self._disconnects += 1
        if not self._ready.is_set():
            # Lost before open() completed: report the cause rather than time out.
            self._fail_open(
                SinetConnectionError(
                    f"MQTT broker {self._settings.address} closed the connection during open: "
                    f"{reason.getName()}"
                )
            )
            client.disconnect()
            return
        self._disconnected_hook(reason)

    def _disconnected_hook(self, reason: ReasonCode) -> None:
        """Role hook: the connection was lost after open (paho will reconnect)."""
