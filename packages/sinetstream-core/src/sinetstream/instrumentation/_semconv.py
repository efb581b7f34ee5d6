"""Attribute names and values of the OpenTelemetry messaging semantic conventions.

Pure functions from what a reader or writer knows (its parameters, a receipt,
a received message's ``raw``) to span and metric attributes. Never a payload
byte, never a secret: only names, addresses, sizes, partitions and offsets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BODY_SIZE",
    "ERROR_TYPE",
    "OPERATION_NAME",
    "OPERATION_TYPE",
    "client_attributes",
    "error_type",
    "received_attributes",
    "receipt_attributes",
    "server_attributes",
]

SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
BODY_SIZE = "messaging.message.body.size"
CLIENT_ID = "messaging.client.id"
CONSUMER_GROUP = "messaging.consumer.group.name"
PARTITION = "messaging.destination.partition.id"
KAFKA_OFFSET = "messaging.kafka.offset"
KAFKA_KEY = "messaging.kafka.message.key"
#: Not in the semantic conventions (which have no MQTT namespace): the QoS level.
MQTT_QOS = "messaging.mqtt.qos"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

_DEFAULT_PORTS = {"kafka": 9092, "mqtt": 1883}


def _messaging_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    # Version 3 configs keep the backend's parameters under type_spec.
    spec = params.get("type_spec")
    return spec if isinstance(spec, Mapping) else params


def server_attributes(system: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of the first broker (network backends only)."""
    brokers = params.get("brokers")
    if system not in _DEFAULT_PORTS or not brokers:
        return {}
    first = brokers if isinstance(brokers, str) else next(iter(brokers), None)
    if not isinstance(first, str) or not first:
        return {}
    first = first.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if sep and port.isdigit():
        return {SERVER_ADDRESS: host.strip("[]"), SERVER_PORT: int(port)}
    return {SERVER_ADDRESS: first, SERVER_PORT: _DEFAULT_PORTS[system]}


def client_attributes(system: str, params: Mapping[str, Any], is_reader: bool) -> dict[str, Any]:
    """What is the same for every message of one reader or writer."""
    attrs: dict[str, Any] = {SYSTEM: system}
    client_id = params.get("client_id")
    if isinstance(client_id, str):
        attrs[CLIENT_ID] = client_id
    attrs.update(server_attributes(system, params))
    backend = _messaging_params(params)
    if system == "kafka" and is_reader:
        group = backend.get("group_id")
        if isinstance(group, str) and group:
            attrs[CONSUMER_GROUP] = group
    elif system == "mqtt" and not is_reader:
        qos = backend.get("qos")
        if qos is None:
            # As the MQTT backend maps it: AT_MOST_ONCE (1) -> QoS 0, ... EXACTLY_ONCE -> 2.
            qos = int(params.get("consistency", 1)) - 1
        if isinstance(qos, int) and not isinstance(qos, bool):
            attrs[MQTT_QOS] = qos
    return attrs


def _key_text(key: Any) -> str | None:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    if isinstance(key, str):
        return key
    return None


def receipt_attributes(system: str, receipt: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Partition, offset and key of a message sent (Kafka); empty for others."""
    attrs: dict[str, Any] = {}
    if system != "kafka":
        return attrs
    partition = getattr(receipt, "partition", None)
    if isinstance(partition, int):
        attrs[PARTITION] = str(partition)
    offset = getattr(receipt, "offset", None)
    if isinstance(offset, int) and offset >= 0:
        attrs[KAFKA_OFFSET] = offset
    key = _key_text(kwargs.get("key"))
    if key is not None:
        attrs[KAFKA_KEY] = key
    return attrs


def received_attributes(system: str, raw: Any) -> dict[str, Any]:
    """Partition, offset and key (Kafka) or QoS (MQTT) of a message received."""
    attrs: dict[str, Any] = {}
    if system == "kafka":
        attrs.update(receipt_attributes(system, raw, {"key": getattr(raw, "key", None)}))
    elif system == "mqtt":
        qos = getattr(raw, "qos", None)
        if isinstance(qos, int):
            attrs[MQTT_QOS] = qos
    return attrs


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's class (a SinetError subclass for the library's own)."""
    return type(error).__qualname__
