"""What the CONNECT packet carries besides the address: the last will and the MQTT 5 properties.

Pure code, part of :func:`sinetstream_mqtt._params.parse_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sinetstream.error import (
    ConnectParameterError,
    InvalidArgumentError,
    UnsupportedServiceTypeError,
)
from sinetstream.spi.params import (
    CONSISTENCY_NAMES,
    Params,
    check_bool,
    check_consistency,
    check_int,
)

__all__ = [
    "V5_CONNECT_PROPERTIES",
    "WillSettings",
    "consistency_qos",
    "v5_properties",
    "will_settings",
]

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

# The values each numeric CONNECT property can carry (MQTT 5.0, section 3.1.2.11).
_V5_RANGES = {
    "session_expiry_interval": (0, 0xFFFFFFFF),
    "receive_maximum": (1, 0xFFFF),
    "maximum_packet_size": (1, 268435455),
    "topic_alias_maximum": (0, 0xFFFF),
}

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


def consistency_qos(consistency: Any, key: str = "consistency", where: str = "") -> int:
    """The QoS of a consistency level (``None``: AT_MOST_ONCE, QoS 0)."""
    if consistency is None:
        return 0
    return CONSISTENCY_NAMES.index(check_consistency(key, consistency, where=where))


def v5_properties(p: Params) -> dict[str, Any]:
    """The MQTT 5 CONNECT properties set in ``p``, checked, by parameter name."""
    out: dict[str, Any] = {}
    for name in V5_CONNECT_PROPERTIES:
        value = p.values.get(name)
        if value is None:
            continue
        if name == "user_property":
            pairs = value.items() if isinstance(value, Mapping) else value
            try:
                out[name] = [(str(k), str(v)) for k, v in pairs]
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"{p.where}{p.key(name)}: must be a mapping or a list of [name, value] pairs"
                ) from None
        elif name == "auth_method":
            out[name] = p.get_text(name, None)
        elif name == "auth_data":
            out[name] = p.get_bytes(name, None)
        elif name in ("request_response_info", "request_problem_info"):
            flag = p.get_bool(name, None) if isinstance(value, (bool, str)) else value
            if flag not in (0, 1):
                raise InvalidArgumentError(f"{p.where}{p.key(name)}: must be true/false or 0/1")
            out[name] = int(flag) if isinstance(flag, bool) else flag
        else:
            out[name] = _v5_int(p, name)
    return out


def _v5_int(p: Params, name: str) -> int:
    """A numeric CONNECT property: an out-of-range integer is a :class:`ConnectParameterError`."""
    value = check_int(p.key(name), p.values[name], where=p.where)
    low, high = _V5_RANGES[name]
    if not low <= value <= high:
        raise ConnectParameterError(
            f"{p.where}{p.key(name)}: must be an integer in {low}..{high}, got {value!r}"
        )
    return value


def _encode_will_payload(payload: Any, encoder_params: dict[str, Any]) -> bytes:
    try:
        from sinetstream import SINETStreamMessageEncoder
    except ImportError as exc:  # pragma: no cover - depends on the core version
        raise UnsupportedServiceTypeError(
            f"an MQTT will needs sinetstream-core with SINETStreamMessageEncoder: {exc}"
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


def will_settings(
    value: Any, default_qos: int, v5: bool, key: str = "will", where: str = ""
) -> WillSettings | None:
    """The ``will`` parameter (``key`` in messages), its payload a SINETStream message."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{where}{key}: must be a mapping with topic and payload")
    topic = value.get("topic")
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError(f"{where}{key}.topic: an MQTT will needs a topic")
    if any(c in topic for c in "+#"):
        raise InvalidArgumentError(f"{where}{key}.topic: {topic!r} must not contain + or #")
    if "payload" not in value or value["payload"] is None:
        raise InvalidArgumentError(f"{where}{key}.payload: an MQTT will needs a payload")
    will = Params(value, where=where, prefix=f"{key}.")
    if value.get("qos") is not None:
        qos = will.get_int("qos", None, minimum=0, maximum=2)
    elif value.get("consistency") is not None:
        qos = consistency_qos(value["consistency"], will.key("consistency"), where)
    else:
        qos = default_qos
    if value.get("delay_interval") is not None and not v5:
        raise InvalidArgumentError(f"{where}{key}.delay_interval: needs protocol MQTTv5")
    encoder_params = {k: v for k, v in value.items() if k not in _WILL_OWN_KEYS}
    payload = _encode_will_payload(value["payload"], encoder_params)
    return WillSettings(
        topic=topic,
        payload=payload,
        qos=qos if qos is not None else default_qos,
        retain=check_bool(will.key("retain"), value.get("retain", False), where=where),
        delay_interval=will.get_int("delay_interval", None, minimum=0),
    )
