"""Turn sinetstream parameters into a checked MQTT client configuration.

Pure code: no network, no paho client. Everything a user can get wrong is
rejected here, at construction, with an :class:`InvalidArgumentError` that
names the parameter.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sinetstream.error import InvalidArgumentError, UnsupportedServiceTypeError
from sinetstream.spi import ConfigVersion, messaging_params

__all__ = ["MqttSettings", "WillSettings", "parse_settings"]

log = logging.getLogger("sinetstream_mqtt")

Role = Literal["reader", "writer"]

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

#: MQTT 5 CONNECT properties: parameter name -> paho property name.
V5_CONNECT_PROPERTIES = {
    "session_expiry_interval": "SessionExpiryInterval",
    "receive_maximum": "ReceiveMaximum",
    "maximum_packet_size": "MaximumPacketSize",
    "topic_alias_maximum": "TopicAliasMaximum",
    "request_response_info": "RequestResponseInformation",
    "request_problem_info": "RequestProblemInformation",
    "user_property": "UserProperty",
    "auth_method": "AuthenticationMethod",
    "auth_data": "AuthenticationData",
}

_TLS_KEYS = frozenset(
    {
        "ca_certs",
        "certfile",
        "keyfile",
        "cert_reqs",
        "tls_version",
        "ciphers",
        "keyfile_password",
        "alpn_protocols",
    }
)

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

# Will keys that are about the will itself; every other key configures the
# encoder that turns the payload into a SINETStream message.
_WILL_OWN_KEYS = frozenset({"topic", "payload", "qos", "retain", "delay_interval", "consistency"})


@dataclass(frozen=True)
class WillSettings:
    """The last-will message, its payload already encoded."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    delay_interval: int | None


@dataclass(frozen=True)
class MqttSettings:
    """Everything needed to build, connect and use one paho client."""

    role: Role
    host: str
    port: int
    client_id: str
    protocol: MQTTProtocolVersion
    transport: Literal["tcp", "websockets"]
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
    offline_publish: Literal["error", "queue"] = "error"
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


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    raise InvalidArgumentError(f"MQTT parameter {name} must be true or false, not {value!r}")


def _int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(
            f"MQTT parameter {name} must be an integer >= {minimum}, not {value!r}"
        )
    return value


def _seconds(name: str, value: Any, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgumentError(f"MQTT parameter {name} must be a positive number of seconds")
    if math.isinf(value) and not allow_inf:
        raise InvalidArgumentError(f"MQTT parameter {name} must be finite")
    return float(value)


def _unwrap(name: str, value: Any, key: str) -> Any:
    """Accept both ``name: X`` and the reference's ``name: {key: X}`` forms."""
    if isinstance(value, Mapping):
        if set(value) != {key}:
            raise InvalidArgumentError(f"MQTT parameter {name} must be a mapping with only {key!r}")
        return value[key]
    return value


def _text(name: str, value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"MQTT parameter {name} is not valid UTF-8") from None
    if isinstance(value, str):
        return value
    raise InvalidArgumentError(f"MQTT parameter {name} must be a string")


def _parse_broker(brokers: Any, tls: bool, transport: str) -> tuple[str, int]:
    if isinstance(brokers, str):
        items = [b.strip() for b in brokers.split(",") if b.strip()]
    elif isinstance(brokers, (list, tuple)):
        items = [b.strip() for b in brokers if isinstance(b, str) and b.strip()]
        if len(items) != len(brokers):
            raise InvalidArgumentError("MQTT brokers must be strings of the form host[:port]")
    else:
        items = []
    if len(items) != 1:
        raise InvalidArgumentError(
            f"MQTT needs exactly one broker (host or host:port) in brokers, got {brokers!r}"
        )
    text = items[0]
    port: int | None = None
    if text.startswith("["):  # [IPv6]:port
        end = text.find("]")
        if end < 0:
            raise InvalidArgumentError(f"MQTT broker {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidArgumentError(f"MQTT broker {text!r}: expected ':port' after ']'")
            port_text: str | None = rest[1:]
        else:
            port_text = None
    elif text.count(":") == 1:
        host, port_text = text.split(":", 1)
    else:
        host, port_text = text, None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidArgumentError(f"MQTT broker {text!r}: port must be 1..65535")
        port = int(port_text)
    if not host:
        raise InvalidArgumentError(f"MQTT broker {text!r}: empty host")
    if port is None:
        defaults = {"websockets": (80, 443), "tcp": (1883, 8883)}[transport]
        port = defaults[1] if tls else defaults[0]
    return host, port


def _consistency_qos(consistency: Any) -> int:
    # Consistency is an IntEnum (1, 2, 3) in the core; names are accepted too
    # so that the plugin can be driven directly through the SPI.
    if consistency is None:
        return 0
    name = getattr(consistency, "name", consistency)
    table = {"AT_MOST_ONCE": 0, "AT_LEAST_ONCE": 1, "EXACTLY_ONCE": 2}
    if isinstance(name, str) and name in table:
        return table[name]
    if isinstance(consistency, int) and not isinstance(consistency, bool) and 1 <= consistency <= 3:
        return int(consistency) - 1
    raise InvalidArgumentError(f"unknown consistency {consistency!r}")


def _ssl_constant(name: str, value: Any, prefix: str) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        attr = value if value.startswith(prefix) else prefix + value
        if hasattr(ssl, attr):
            return getattr(ssl, attr)
    raise InvalidArgumentError(f"MQTT tls {name} {value!r} is not an ssl.{prefix}* constant")


def _tls_settings(
    common: Any, specific: Any, specific_insecure: Any
) -> tuple[dict[str, Any] | None, bool | None]:
    """Merge the common ``tls`` and the MQTT-specific ``tls`` (specific wins)."""
    enabled = False
    merged: dict[str, Any] = {}
    insecure: bool | None = None
    for source, value in (("tls", common), ("type_spec tls", specific)):
        if value is None:
            continue
        if isinstance(value, bool):
            enabled = value
            if not value:
                merged.clear()
            continue
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"{source} must be true, false or a mapping")
        enabled = True
        for key, item in value.items():
            if key == "check_hostname":
                insecure = not _bool("tls.check_hostname", item)
            elif key in _TLS_KEYS:
                merged[key] = item
            elif key.endswith("_data"):
                raise InvalidArgumentError(
                    f"tls.{key} was not turned into a file by the core; give tls."
                    f"{key[:-5]} as a path instead"
                )
            else:
                log.warning("ignoring tls parameter %r (not supported by the MQTT backend)", key)
    if specific_insecure is not None:
        insecure = _bool("tls_insecure", _unwrap("tls_insecure", specific_insecure, "value"))
    if not enabled:
        return None, None
    if "cert_reqs" in merged:
        merged["cert_reqs"] = _ssl_constant("cert_reqs", merged["cert_reqs"], "CERT_")
    if "tls_version" in merged:
        merged["tls_version"] = _ssl_constant("tls_version", merged["tls_version"], "PROTOCOL_")
    if "keyfile_password" in merged and merged["keyfile_password"] is not None:
        merged["keyfile_password"] = _text("tls.keyfile_password", merged["keyfile_password"])
    for key in ("ca_certs", "certfile", "keyfile", "ciphers"):
        if merged.get(key) is not None and not isinstance(merged[key], str):
            raise InvalidArgumentError(f"tls.{key} must be a string")
    return merged, insecure


def _v5_properties(mp: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in V5_CONNECT_PROPERTIES:
        if name not in mp or mp[name] is None:
            continue
        value = mp[name]
        if name == "user_property":
            pairs = value.items() if isinstance(value, Mapping) else value
            try:
                out[name] = [(str(k), str(v)) for k, v in pairs]
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    "user_property must be a mapping or a list of [name, value] pairs"
                ) from None
        elif name == "auth_method":
            out[name] = _text(name, value)
        elif name == "auth_data":
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, (bytes, bytearray)):
                raise InvalidArgumentError("auth_data must be bytes or a string")
            out[name] = bytes(value)
        elif name in ("request_response_info", "request_problem_info"):
            out[name] = int(_bool(name, value)) if isinstance(value, (bool, str)) else value
            if out[name] not in (0, 1):
                raise InvalidArgumentError(f"{name} must be true/false or 0/1")
        else:
            out[name] = _int(name, value)
    return out


def _encode_will_payload(payload: Any, encoder_params: dict[str, Any]) -> bytes:
    try:
        from sinetstream._codec import SINETStreamMessageEncoder
    except ImportError as exc:  # pragma: no cover - depends on the core version
        raise UnsupportedServiceTypeError(
            "an MQTT will needs sinetstream-core with sinetstream._codec "
            f"(SINETStreamMessageEncoder): {exc}"
        ) from exc
    if (
        isinstance(payload, str)
        and "value_type" not in encoder_params
        and ("value_serializer" not in encoder_params)
    ):
        # A string will with no value type: send its UTF-8 bytes, as a text
        # writer would (the reference raised InvalidMessageError here).
        payload = payload.encode("utf-8")
    encoder = SINETStreamMessageEncoder(**encoder_params)
    encoded = encoder.encode(payload, timestamp=0)
    if not isinstance(encoded, (bytes, bytearray)):
        raise InvalidArgumentError("the will encoder did not return bytes")
    return bytes(encoded)


def _will_settings(value: Any, default_qos: int, v5: bool) -> WillSettings | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError("MQTT will must be a mapping with topic and payload")
    topic = value.get("topic")
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError("MQTT will needs a topic")
    if any(c in topic for c in "+#"):
        raise InvalidArgumentError(f"MQTT will topic {topic!r} must not contain + or #")
    if "payload" not in value or value["payload"] is None:
        raise InvalidArgumentError("MQTT will needs a payload")
    if "qos" in value and value["qos"] is not None:
        qos = value["qos"]
        if qos not in (0, 1, 2) or isinstance(qos, bool):
            raise InvalidArgumentError(f"MQTT will qos must be 0, 1 or 2, not {qos!r}")
    elif value.get("consistency") is not None:
        qos = _consistency_qos(value["consistency"])
    else:
        qos = default_qos
    delay = value.get("delay_interval")
    if delay is not None:
        if not v5:
            raise InvalidArgumentError("MQTT will delay_interval needs protocol MQTTv5")
        delay = _int("will.delay_interval", delay)
    encoder_params = {k: v for k, v in value.items() if k not in _WILL_OWN_KEYS}
    payload = _encode_will_payload(value["payload"], encoder_params)
    return WillSettings(
        topic=topic,
        payload=payload,
        qos=qos,
        retain=_bool("will.retain", value.get("retain", False)),
        delay_interval=delay,
    )


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


def parse_settings(confver: ConfigVersion, params: Mapping[str, Any], role: Role) -> MqttSettings:
    """Check ``params`` (merged sinetstream parameters) and build the settings."""
    mp = _normalise_names(confver, params)
    if confver.type_spec():
        for key in mp:
            if key not in _KNOWN:
                log.warning("ignoring unknown MQTT parameter %r in type_spec", key)

    protocol_name = mp.get("protocol", "MQTTv311")
    if protocol_name not in _PROTOCOLS:
        raise InvalidArgumentError(
            f"MQTT protocol must be one of {', '.join(_PROTOCOLS)}, not {protocol_name!r}"
        )
    protocol = _PROTOCOLS[protocol_name]
    v5 = protocol == MQTTProtocolVersion.MQTTv5

    transport = mp.get("transport", "tcp")
    if transport not in ("tcp", "websockets"):
        raise InvalidArgumentError(f"MQTT transport must be tcp or websockets, not {transport!r}")

    tls, tls_insecure = _tls_settings(params.get("tls"), mp.get("tls"), mp.get("tls_insecure"))
    host, port = _parse_broker(params.get("brokers"), tls is not None, transport)

    client_id = params.get("client_id")
    if client_id is None:
        client_id = ""
    client_id = _text("client_id", client_id)

    persistent = _bool("persistent_session", mp.get("persistent_session", False))
    clean_session: bool | None = None
    clean_start: bool | int = MQTT_CLEAN_START_FIRST_ONLY
    connect_properties = _v5_properties(mp)
    if v5:
        if mp.get("clean_session") is not None:
            raise InvalidArgumentError(
                "clean_session is an MQTT 3.1.1 parameter; with MQTTv5 use clean_start "
                "(and session_expiry_interval)"
            )
        if mp.get("clean_start") is not None:
            clean_start = _bool("clean_start", mp["clean_start"])
        if persistent:
            clean_start = False
            connect_properties.setdefault("session_expiry_interval", 0xFFFFFFFF)
    else:
        if mp.get("clean_start") is not None:
            raise InvalidArgumentError(
                "clean_start is an MQTT 5 parameter; with MQTTv311 use clean_session"
            )
        if connect_properties:
            raise InvalidArgumentError(
                f"{', '.join(sorted(connect_properties))}: MQTT 5 CONNECT properties need "
                "protocol MQTTv5"
            )
        if mp.get("clean_session") is not None:
            clean_session = _bool("clean_session", mp["clean_session"])
        if persistent:
            clean_session = False
        if clean_session is False and not client_id:
            raise InvalidArgumentError("clean_session false needs a fixed client_id")

    if mp.get("qos") is not None:
        qos = mp["qos"]
        if isinstance(qos, bool) or qos not in (0, 1, 2):
            raise InvalidArgumentError(f"MQTT qos must be 0, 1 or 2, not {qos!r}")
    else:
        qos = _consistency_qos(params.get("consistency"))

    ws_path: str | None = None
    ws_headers: dict[str, str] | None = None
    if mp.get("ws_options") is not None:
        ws = mp["ws_options"]
        if not isinstance(ws, Mapping) or set(ws) - {"path", "headers"}:
            raise InvalidArgumentError("ws_options must be a mapping with path and/or headers")
        if ws.get("path") is not None:
            ws_path = _text("ws_options.path", ws["path"])
        if ws.get("headers") is not None:
            if not isinstance(ws["headers"], Mapping):
                raise InvalidArgumentError("ws_options.headers must be a mapping")
            ws_headers = {str(k): str(v) for k, v in ws["headers"].items()}

    username = password = None
    if mp.get("username_pw") is not None:
        up = mp["username_pw"]
        if not isinstance(up, Mapping) or "username" not in up:
            raise InvalidArgumentError("username_pw must be a mapping with username and password")
        username = _text("username_pw.username", up["username"])
        if up.get("password") is not None:
            password = _text("username_pw.password", up["password"])

    reconnect_delay = None
    if mp.get("reconnect_delay") is not None:
        rd = mp["reconnect_delay"]
        if not isinstance(rd, Mapping):
            raise InvalidArgumentError("reconnect_delay must be a mapping: {min_delay, max_delay}")
        lo = _seconds("reconnect_delay.min_delay", rd.get("min_delay", 1))
        hi = _seconds("reconnect_delay.max_delay", rd.get("max_delay", 120))
        if hi < lo:
            raise InvalidArgumentError("reconnect_delay.max_delay must be >= min_delay")
        reconnect_delay = (lo, hi)

    if mp.get("message_retry") is not None:
        log.info("message_retry is ignored: paho-mqtt 2 resends unacked messages on reconnect")

    max_inflight = max_queued = None
    if mp.get("max_inflight_messages") is not None:
        max_inflight = _int(
            "max_inflight_messages",
            _unwrap("max_inflight_messages", mp["max_inflight_messages"], "inflight"),
        )
    if mp.get("max_queued_messages") is not None:
        max_queued = _int(
            "max_queued_messages",
            _unwrap("max_queued_messages", mp["max_queued_messages"], "queue_size"),
        )

    offline = mp.get("offline_publish", "error")
    if offline not in ("error", "queue"):
        raise InvalidArgumentError(f"offline_publish must be 'error' or 'queue', not {offline!r}")
    publish_timeout = None
    if mp.get("publish_timeout") is not None:
        publish_timeout = _seconds("publish_timeout", mp["publish_timeout"], allow_inf=True)
        if math.isinf(publish_timeout):
            publish_timeout = None

    topic: str | None = None
    topics: tuple[str, ...] = ()
    if role == "writer":
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
    else:
        raw_topics = params.get("topics")
        if raw_topics is None:
            raw_topics = params.get("topic")
        if isinstance(raw_topics, str):
            raw_topics = [raw_topics]
        if not raw_topics or not all(isinstance(t, str) and t for t in raw_topics):
            raise InvalidArgumentError("an MQTT reader needs one or more topics")
        topics = tuple(raw_topics)

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
        retain=_bool("retain", mp.get("retain", False)),
        keepalive=_int("keepalive", mp.get("keepalive", 60), minimum=1),
        connection_timeout=_seconds("connection_timeout", mp.get("connection_timeout", 10.0)),
        topic=topic,
        topics=topics,
        max_inflight_messages=max_inflight,
        max_queued_messages=max_queued,
        ws_path=ws_path,
        ws_headers=ws_headers,
        tls=tls,
        tls_insecure=tls_insecure,
        username=username,
        password=password,
        will=_will_settings(mp.get("will"), qos, v5),
        reconnect_delay=reconnect_delay,
        connect_properties=connect_properties,
        receive_buffer_size=_int(
            "receive_buffer_size", mp.get("receive_buffer_size", 10000), minimum=1
        ),
        receive_buffer_bytes=_int(
            "receive_buffer_bytes",
            mp.get("receive_buffer_bytes", DEFAULT_RECEIVE_BUFFER_BYTES),
            minimum=1,
        ),
        offline_publish=offline,
        publish_timeout=publish_timeout,
        close_timeout=_seconds("close_timeout", mp.get("close_timeout", 10.0)),
    )
