"""Turn sinetstream parameters into a checked MQTT client configuration.

Pure code: no network, no paho client. Everything a user can get wrong is
rejected here, at construction, with an :class:`InvalidArgumentError` that
names the parameter. The broker address and TLS are checked in
:mod:`._endpoint`, the will and the MQTT 5 properties in :mod:`._connect_options`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sinetstream.error import ConnectParameterError, InvalidArgumentError
from sinetstream.spi import ConfigVersion, messaging_params
from sinetstream.spi.params import (
    Params,
    check_bool,
    check_int,
    check_str_list,
    check_text,
    service_where,
)

from ._connect_options import (
    V5_CONNECT_PROPERTIES,
    WillSettings,
    consistency_qos,
    v5_properties,
    will_settings,
)
from ._endpoint import parse_broker, tls_settings

__all__ = ["MqttSettings", "WillSettings", "parse_settings"]

log = logging.getLogger("sinetstream_mqtt")

Role = Literal["reader", "writer"]
Transport = Literal["tcp", "websockets"]
OfflinePublish = Literal["error", "queue"]

#: Default ``receive_buffer_bytes``: payload bytes a sync reader buffers.
DEFAULT_RECEIVE_BUFFER_BYTES = 32 * 1024 * 1024

#: v1/v2 (paho 1.x setter) names -> the v3 names used under ``type_spec``.
SETTER_ALIASES = {
    "max_inflight_messages_set": "max_inflight_messages",
    "max_queued_messages_set": "max_queued_messages",
    "message_retry_set": "message_retry",
    "ws_set_options": "ws_options",
    "tls_set": "tls",
    "tls_insecure_set": "tls_insecure",
    "username_pw_set": "username_pw",
    "will_set": "will",
    "reconnect_delay_set": "reconnect_delay",
}

_PROTOCOLS = {
    "MQTTv31": MQTTProtocolVersion.MQTTv31,
    "MQTTv311": MQTTProtocolVersion.MQTTv311,
    "MQTTv5": MQTTProtocolVersion.MQTTv5,
}

# Parameters of this plugin besides the v5 properties (v3 names).
_KNOWN = frozenset(
    {
        "protocol",
        "transport",
        "clean_session",
        "clean_start",
        "qos",
        "retain",
        "keepalive",
        "connection_timeout",
        "max_inflight_messages",
        "max_queued_messages",
        "message_retry",
        "ws_options",
        "tls",
        "tls_insecure",
        "username_pw",
        "will",
        "reconnect_delay",
        "persistent_session",
        "receive_buffer_size",
        "receive_buffer_bytes",
        "offline_publish",
        "publish_timeout",
        "close_timeout",
    }
) | frozenset(V5_CONNECT_PROPERTIES)


@dataclass(frozen=True)
class MqttSettings:
    """Everything needed to build, connect and use one paho client."""

    role: Role
    host: str
    port: int
    client_id: str
    protocol: MQTTProtocolVersion
    transport: Transport
    clean_session: bool | None
    clean_start: bool | int
    qos: int
    retain: bool
    keepalive: int
    connection_timeout: float
    topic: str | None
    topics: tuple[str, ...]
    max_inflight_messages: int | None = None
    max_queued_messages: int | None = None
    ws_path: str | None = None
    ws_headers: dict[str, str] | None = None
    tls: dict[str, Any] | None = None
    tls_insecure: bool | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    will: WillSettings | None = field(default=None, repr=False)
    reconnect_delay: tuple[float, float] | None = None
    connect_properties: dict[str, Any] = field(default_factory=dict, repr=False)
    receive_buffer_size: int = 10000
    receive_buffer_bytes: int = DEFAULT_RECEIVE_BUFFER_BYTES
    offline_publish: OfflinePublish = "error"
    publish_timeout: float | None = None
    close_timeout: float = 10.0

    @property
    def is_v5(self) -> bool:
        """True for MQTT 5."""
        return self.protocol == MQTTProtocolVersion.MQTTv5

    @property
    def address(self) -> str:
        """``host:port`` for messages (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def build_connect_properties(self) -> Properties | None:
        """The MQTT 5 CONNECT properties, or None when there are none."""
        if not self.connect_properties:
            return None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        for name, value in self.connect_properties.items():
            setattr(props, V5_CONNECT_PROPERTIES[name], value)
        return props


def _normalise_names(confver: ConfigVersion, params: Mapping[str, Any]) -> dict[str, Any]:
    raw = messaging_params(confver, params)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = SETTER_ALIASES.get(key, key)
        if name in out:
            setter = key if key != name else next(k for k, v in SETTER_ALIASES.items() if v == name)
            raise InvalidArgumentError(
                f"MQTT parameters {setter} and {name} are the same; give one"
            )
        out[name] = value
    return out


def _unwrap(p: Params, name: str, inner: str) -> Any:
    """Accept both ``name: X`` and the reference's ``name: {inner: X}`` forms."""
    value = p.values[name]
    if isinstance(value, Mapping):
        if set(value) != {inner}:
            raise InvalidArgumentError(
                f"{p.where}{p.key(name)}: must be a mapping with only {inner!r}, got {value!r}"
            )
        return value[inner]
    return value


def _unwrapped_int(p: Params, name: str, inner: str) -> int | None:
    if p.values.get(name) is None:
        return None
    return check_int(p.key(name), _unwrap(p, name, inner), minimum=0, where=p.where)


def _session_flags(
    p: Params, v5: bool, client_id: str, connect_properties: dict[str, Any]
) -> tuple[bool | None, bool | int]:
    """``(clean_session, clean_start)``; may add ``session_expiry_interval`` (MQTT 5)."""
    persistent = p.get_bool("persistent_session", False)
    clean_session: bool | None = None
    clean_start: bool | int = MQTT_CLEAN_START_FIRST_ONLY
    if v5:
        if p.values.get("clean_session") is not None:
            raise InvalidArgumentError(
                f"{p.where}{p.key('clean_session')}: an MQTT 3.1.1 parameter; with MQTTv5 "
                "use clean_start (and session_expiry_interval)"
            )
        clean_start_flag = p.get_bool("clean_start", None)
        if clean_start_flag is not None:
            clean_start = clean_start_flag
        if persistent:
            clean_start = False
            connect_properties.setdefault("session_expiry_interval", 0xFFFFFFFF)
        return clean_session, clean_start
    if p.values.get("clean_start") is not None:
        raise ConnectParameterError(
            f"{p.where}{p.key('clean_start')}: an MQTT 5 parameter; with protocol "
            "MQTTv31/MQTTv311 use clean_session (or set protocol: MQTTv5)"
        )
    if connect_properties:
        raise ConnectParameterError(
            f"{p.where}{', '.join(p.key(k) for k in sorted(connect_properties))}: "
            "MQTT 5 CONNECT properties need protocol MQTTv5"
        )
    clean_session = p.get_bool("clean_session", None)
    if persistent:
        clean_session = False
    if clean_session is False and not client_id:
        raise InvalidArgumentError(
            f"{p.where}{p.key('clean_session')}: false needs a fixed client_id"
        )
    return clean_session, clean_start


def _websocket(p: Params) -> tuple[str | None, dict[str, str] | None]:
    """``(path, headers)`` of ``ws_options``."""
    ws = p.values.get("ws_options")
    if ws is None:
        return None, None
    if not isinstance(ws, Mapping) or set(ws) - {"path", "headers"}:
        raise InvalidArgumentError(
            f"{p.where}{p.key('ws_options')}: must be a mapping with path and/or headers"
        )
    options = Params(ws, where=p.where, prefix=p.key("ws_options."))
    headers = ws.get("headers")
    if headers is not None and not isinstance(headers, Mapping):
        raise InvalidArgumentError(f"{p.where}{p.key('ws_options.headers')}: must be a mapping")
    return options.get_text("path", None), (
        None if headers is None else {str(k): str(v) for k, v in headers.items()}
    )


def _credentials(p: Params) -> tuple[str | None, str | None]:
    """``(username, password)`` of ``username_pw``."""
    up = p.values.get("username_pw")
    if up is None:
        return None, None
    if not isinstance(up, Mapping) or "username" not in up:
        raise InvalidArgumentError(
            f"{p.where}{p.key('username_pw')}: must be a mapping with username and password"
        )
    pair = Params(up, where=p.where, prefix=p.key("username_pw."))
    return check_text(pair.key("username"), up["username"], where=p.where), pair.get_text(
        "password", None
    )


def _reconnect_delay(p: Params) -> tuple[float, float] | None:
    rd = p.values.get("reconnect_delay")
    if rd is None:
        return None
    if not isinstance(rd, Mapping):
        raise InvalidArgumentError(
            f"{p.where}{p.key('reconnect_delay')}: must be a mapping {{min_delay, max_delay}}"
        )
    delays = Params(rd, where=p.where, prefix=p.key("reconnect_delay."))
    lo = delays.get_number("min_delay", 1.0, positive=True, unit="seconds")
    hi = delays.get_number("max_delay", 120.0, positive=True, unit="seconds")
    if hi < lo:
        raise InvalidArgumentError(
            f"{p.where}{delays.key('max_delay')}: must be >= min_delay ({lo:g}), got {hi:g}"
        )
    return float(lo), float(hi)


def _writer_topic(params: Mapping[str, Any]) -> str:
    topic = params.get("topic")
    if isinstance(topic, (list, tuple)) and len(topic) == 1:
        topic = topic[0]
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError("an MQTT writer needs one topic")
    if any(c in topic for c in "+#"):
        raise InvalidArgumentError(
            f"MQTT writer topic {topic!r} must not contain the wildcards + or #"
        )
    if len(topic.encode()) > 65535:
        raise InvalidArgumentError("MQTT writer topic is longer than 65535 bytes")
    return topic


def _reader_topics(params: Mapping[str, Any], where: str) -> tuple[str, ...]:
    topics = params.get("topics")
    if topics is None:
        topics = params.get("topic")
    return tuple(check_str_list("topics", topics, where=where))


def parse_settings(confver: ConfigVersion, params: Mapping[str, Any], role: Role) -> MqttSettings:
    """Check ``params`` (merged sinetstream parameters) and build the settings."""
    mp = _normalise_names(confver, params)
    if confver.type_spec():
        for key in mp:
            if key not in _KNOWN:
                log.warning("ignoring unknown MQTT parameter %r in type_spec", key)
    where = service_where(params, "mqtt")
    p = Params(mp, where=where, prefix="type_spec." if confver.type_spec() else "")

    protocol = _PROTOCOLS[p.get_choice("protocol", "MQTTv311", tuple(_PROTOCOLS))]
    v5 = protocol == MQTTProtocolVersion.MQTTv5
    transport = cast("Transport", p.get_choice("transport", "tcp", ("tcp", "websockets")))

    insecure = None
    if mp.get("tls_insecure") is not None:
        insecure = check_bool(
            p.key("tls_insecure"), _unwrap(p, "tls_insecure", "value"), where=where
        )
    tls, tls_insecure = tls_settings(params.get("tls"), mp.get("tls"), insecure, where)
    host, port = parse_broker(params.get("brokers"), tls is not None, transport)

    client_id = params.get("client_id")
    client_id = check_text("client_id", "" if client_id is None else client_id, where=where)

    connect_properties = v5_properties(p)
    clean_session, clean_start = _session_flags(p, v5, client_id, connect_properties)

    qos = p.get_int("qos", None, minimum=0, maximum=2)
    if qos is None:
        qos = consistency_qos(params.get("consistency"), where=where)

    ws_path, ws_headers = _websocket(p)
    username, password = _credentials(p)
    if mp.get("message_retry") is not None:
        log.info("message_retry is ignored: paho-mqtt 2 resends unacked messages on reconnect")

    publish_timeout = p.get_number(
        "publish_timeout", None, positive=True, allow_inf=True, unit="seconds"
    )
    if publish_timeout is not None and math.isinf(publish_timeout):
        publish_timeout = None

    return MqttSettings(
        role=role,
        host=host,
        port=port,
        client_id=client_id,
        protocol=protocol,
        transport=transport,
        clean_session=clean_session,
        clean_start=clean_start,
        qos=qos,
        retain=p.get_bool("retain", False),
        keepalive=p.get_int("keepalive", 60, minimum=1),
        connection_timeout=p.get_number("connection_timeout", 10.0, positive=True, unit="seconds"),
        topic=_writer_topic(params) if role == "writer" else None,
        topics=() if role == "writer" else _reader_topics(params, where),
        max_inflight_messages=_unwrapped_int(p, "max_inflight_messages", "inflight"),
        max_queued_messages=_unwrapped_int(p, "max_queued_messages", "queue_size"),
        ws_path=ws_path,
        ws_headers=ws_headers,
        tls=tls,
        tls_insecure=tls_insecure,
        username=username,
        password=password,
        will=will_settings(mp.get("will"), qos, v5, p.key("will"), where),
        reconnect_delay=_reconnect_delay(p),
        connect_properties=connect_properties,
        receive_buffer_size=p.get_int("receive_buffer_size", 10000, minimum=1),
        receive_buffer_bytes=p.get_int(
            "receive_buffer_bytes", DEFAULT_RECEIVE_BUFFER_BYTES, minimum=1
        ),
        offline_publish=cast(
            "OfflinePublish", p.get_choice("offline_publish", "error", ("error", "queue"))
        ),
        publish_timeout=publish_timeout,
        close_timeout=p.get_number("close_timeout", 10.0, positive=True, unit="seconds"),
    )
