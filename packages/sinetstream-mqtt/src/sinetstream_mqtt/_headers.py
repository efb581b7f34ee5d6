"""Message headers (``PluginMessage.headers``) as MQTT 5 user properties.

MQTT 3.1.x has nowhere to put them: there the writer does not say
``supports_headers`` and the payload travels alone, byte for byte as
SINETStream 1.10 sends it.
"""

from __future__ import annotations

from collections.abc import Mapping

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sinetstream.spi import PluginMessage

__all__ = ["publish_properties", "received_payload"]


def publish_properties(headers: Mapping[str, str] | None) -> Properties | None:
    """The PUBLISH properties carrying ``headers`` as user properties; ``None`` for none."""
    if not headers:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = list(headers.items())
    return props


def received_payload(msg: mqtt.MQTTMessage) -> bytes:
    """The payload of ``msg``; with MQTT 5 user properties, a PluginMessage carrying them."""
    payload = bytes(msg.payload)  # bytes() of a bytes object is that object: no copy
    props = msg.properties  # None for MQTT 3.1.x
    if props is None:
        return payload
    user = getattr(props, "UserProperty", None)
    if not user:
        return payload
    message = PluginMessage(payload)
    # A name sent twice keeps its last value (the W3C headers are sent once each).
    message.headers = dict(user)
    return message
