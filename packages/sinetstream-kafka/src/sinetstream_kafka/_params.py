"""Turn sinetstream parameters into kafka-python configs (pure functions, no I/O).

The reference (SINETStream 1.10) handed the same dict to producer and consumer,
dropped ``client_id`` in v3 configs and silently degraded ``EXACTLY_ONCE``.
Here each key goes to the client that accepts it, ``client_id`` always reaches
Kafka, and every consistency level maps to what Kafka can really guarantee.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from sinetstream.error import ConnectParameterError, InvalidArgumentError
from sinetstream.spi import ConfigVersion, messaging_params
from sinetstream.spi.params import (
    Params,
    check_consistency,
    check_str,
    check_str_list,
    check_text,
    service_where,
)

__all__ = [
    "DEFAULT_BOOTSTRAP_TIMEOUT_MS",
    "ReaderConfig",
    "WriterConfig",
    "consistency_name",
    "reader_config",
    "writer_config",
]

log = logging.getLogger("sinetstream_kafka")

#: How long ``open()`` waits for a broker before raising ConnectionError.
#: kafka-python's own default is 30 s; override with ``type_spec.bootstrap_timeout_ms``.
DEFAULT_BOOTSTRAP_TIMEOUT_MS = 10_000

_PRODUCER_KEYS = frozenset(KafkaProducer.DEFAULT_CONFIG)
_CONSUMER_KEYS = frozenset(KafkaConsumer.DEFAULT_CONFIG)

# Keys the plugin sets itself: a user value would break the bytes-in, bytes-out contract.
_RESERVED = frozenset({"value_serializer", "value_deserializer", "kafka_client"})

# sinetstream ``tls`` mapping key -> kafka-python key.
_TLS_KEYS = {
    "ca_certs": "ssl_cafile",
    "certfile": "ssl_certfile",
    "keyfile": "ssl_keyfile",
    "keyfile_password": "ssl_password",
    "ciphers": "ssl_ciphers",
    "check_hostname": "ssl_check_hostname",
    "crlfile": "ssl_crlfile",
}

# Credentials decrypted from ``!sinetstream/encrypted`` secrets arrive as bytes.
_TEXT_SECRETS = ("sasl_plain_username", "sasl_plain_password")

# Kafka topic names are [a-zA-Z0-9._-]; anything starting with "^" is a regex.
_PATTERN_PREFIX = "^"


def _scram_saslname(username: str) -> str:
    """``username`` as SCRAM sends it (RFC 5802 ``saslname``: ``,`` is ``=2C``, ``=`` is ``=3D``).

    kafka-python 3.0 puts the name into its SCRAM messages as it is, so a name
    such as ``uid=alice,ou=people`` broke the exchange; the broker decodes the
    escapes back.
    """
    return username.replace("=", "=3D").replace(",", "=2C")


def consistency_name(value: Any, where: str = "") -> str:
    """The consistency level as its name, from an enum member, a name or 1/2/3.

    ``None`` is AT_MOST_ONCE; ``where`` names the service in the message.
    """
    if value is None:
        return "AT_MOST_ONCE"
    return check_consistency("consistency", value, where=where)


@dataclass
class WriterConfig:
    """Everything a Kafka writer needs, computed once at construction."""

    topic: str
    producer: dict[str, Any]
    consistency: str
    transactional: bool


@dataclass
class ReaderConfig:
    """Everything a Kafka reader needs, computed once at construction."""

    topics: list[str]
    pattern: str | None
    consumer: dict[str, Any]
    consistency: str
    group_id: str | None
    receive_timeout_ms: float
    #: Commit the offsets of a fetched batch before handing it over (AT_MOST_ONCE).
    commit_before_delivery: bool = False
    #: Start partitions assigned at open() without a committed offset at their end
    #: (False when the user chose ``auto_offset_reset`` in type_spec).
    start_at_end: bool = True


def _brokers(params: Mapping[str, Any]) -> list[str]:
    brokers = params.get("brokers")
    if isinstance(brokers, str):
        out = [b.strip() for b in brokers.split(",") if b.strip()]
    elif isinstance(brokers, (list, tuple)):
        out = [str(b).strip() for b in brokers if str(b).strip()]
    else:
        out = []
    if not out:
        raise InvalidArgumentError(
            f"kafka: set 'brokers' to 'host:port' or a list of them (got {brokers!r})"
        )
    return out


def _tls(tls: Any) -> dict[str, Any]:
    if tls is None or tls is False:
        return {}
    if tls is True:
        return {"security_protocol": "SSL"}
    if not isinstance(tls, Mapping):
        raise InvalidArgumentError(
            f"tls must be true, false or a mapping, not {type(tls).__name__}"
        )
    out: dict[str, Any] = {"security_protocol": "SSL"}
    for key, value in tls.items():
        target = _TLS_KEYS.get(key)
        if target is None:
            # Java-only keys (trustStore, keyStore, ...) may share a config file: skip them.
            log.warning("kafka: tls.%s is not supported by the Python client; ignored", key)
            continue
        out[target] = value
    return out


def _common(
    confver: ConfigVersion, params: Mapping[str, Any], accepted: frozenset[str]
) -> dict[str, Any]:
    """Config shared by both roles: brokers, client_id, tls, SASL, type_spec keys."""
    config: dict[str, Any] = {
        "bootstrap_servers": _brokers(params),
        "bootstrap_timeout_ms": DEFAULT_BOOTSTRAP_TIMEOUT_MS,
    }
    client_id = params.get("client_id")
    if client_id:
        config["client_id"] = str(client_id)
    config.update(_tls(params.get("tls")))

    p = Params.messaging(confver, params, "kafka")
    spec = p.values
    strict = confver.type_spec()
    for key, value in spec.items():
        if key in _RESERVED:
            raise InvalidArgumentError(
                f"kafka: {key!r} cannot be set; sinetstream does the (de)serialization "
                "(use value_type / value_serializer outside type_spec)"
            )
        if key in accepted:
            config[key] = value
        elif key in _PRODUCER_KEYS or key in _CONSUMER_KEYS:
            continue  # meant for the other role: a writer-only key never breaks a reader
        elif strict:
            # 1.10 passed it on and failed at open() with a ConnectionError.
            raise ConnectParameterError(
                f"kafka: unknown type_spec key {key!r}; it is neither a KafkaProducer nor a "
                "KafkaConsumer setting of kafka-python 3.x"
            )
        else:
            log.warning("kafka: parameter %r is not a kafka-python setting; ignored", key)

    for name in _TEXT_SECRETS:
        if isinstance(config.get(name), (bytes, bytearray)):
            config[name] = check_text(p.key(name), config[name], where=p.where)
    mechanism = config.get("sasl_mechanism")
    username = config.get("sasl_plain_username")
    if isinstance(mechanism, str) and mechanism.startswith("SCRAM-") and isinstance(username, str):
        config["sasl_plain_username"] = _scram_saslname(username)
    if mechanism and "security_protocol" not in spec:
        tls_on = config.get("security_protocol") == "SSL"
        config["security_protocol"] = "SASL_SSL" if tls_on else "SASL_PLAINTEXT"
    return config


#: The producer's ``batch_size`` unless ``type_spec`` sets one (kafka-python: 16 KiB).
#: A batch only grows while the sender is busy (``linger_ms`` stays 0), so light
#: traffic is not delayed; under load, 256 KiB batches mean 16 times fewer produce
#: requests for the broker and for the client's sender thread. kafka-python
#: allocates a batch's buffer as records arrive, not up front. Measured on Tansu,
#: 1 KiB records, raw kafka-python fire-and-forget: 1.8x the messages/s of 16 KiB.
#: Well below the brokers' default 1 MiB message.max.bytes.
DEFAULT_BATCH_SIZE = 256 * 1024


def writer_config(confver: ConfigVersion, params: Mapping[str, Any]) -> WriterConfig:
    """Validate writer params and build the KafkaProducer config."""
    topic = params.get("topic")
    if isinstance(topic, (list, tuple)) and len(topic) == 1:
        topic = topic[0]
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError(f"kafka writer: set 'topic' to one topic name (got {topic!r})")
    consistency = consistency_name(params.get("consistency"), service_where(params, "kafka"))
    spec = messaging_params(confver, params)
    config = _common(confver, params, _PRODUCER_KEYS)
    config.setdefault("batch_size", DEFAULT_BATCH_SIZE)

    if consistency == "AT_MOST_ONCE":
        # Never retried, hence never duplicated; the leader's ack still reports
        # failures (acks=0, the reference's choice, reports none: set it in type_spec).
        config.setdefault("acks", 1)
        config.setdefault("retries", 0)
        config.setdefault("enable_idempotence", False)
    elif consistency == "AT_LEAST_ONCE":
        # acks=all: a message is acknowledged only once every in-sync replica has it.
        config.setdefault("acks", "all")
        config.setdefault("enable_idempotence", False)
    else:
        # EXACTLY_ONCE: the idempotent producer (no duplicates from retries), strictly.
        if spec.get("enable_idempotence") is False:
            raise InvalidArgumentError(
                "kafka: EXACTLY_ONCE needs the idempotent producer; remove "
                "enable_idempotence: false or choose AT_LEAST_ONCE"
            )
        acks = config.get("acks", "all")
        if acks not in ("all", -1):
            raise InvalidArgumentError(
                f"kafka: EXACTLY_ONCE needs acks=all; remove acks: {acks!r} or choose AT_LEAST_ONCE"
            )
        config["acks"] = "all"
        config["enable_idempotence"] = True
    if config.get("acks") == "all":
        config["acks"] = -1
    return WriterConfig(
        topic=topic,
        producer=config,
        consistency=consistency,
        transactional=bool(config.get("transactional_id")),
    )


def _topics(params: Mapping[str, Any]) -> list[str]:
    topics = params.get("topics")
    if topics is None:
        topics = params.get("topic")
    return check_str_list("topics", topics, where=service_where(params, "kafka"))


def _pattern(topics: list[str]) -> str | None:
    """One regex for the subscription when any topic is a pattern (starts with ``^``)."""
    if not any(t.startswith(_PATTERN_PREFIX) for t in topics):
        return None
    parts = []
    for t in topics:
        if t.startswith(_PATTERN_PREFIX):
            try:
                re.compile(t)
            except re.error as exc:
                raise InvalidArgumentError(
                    f"kafka reader: bad topic pattern {t!r}: {exc}"
                ) from None
            parts.append(f"(?:{t})")
        else:
            parts.append(f"(?:^{re.escape(t)}$)")
    return "|".join(parts)


def _group_id(p: Params, client_id: str | None) -> str | None:
    """The reader's consumer group: none (SINETStream 1.10) unless ``group_id`` names one.

    ``group_id: true`` names it after ``client_id``, so a reader given a fixed
    ``client_id`` resumes where it stopped; ``null`` and ``false`` mean no group.
    """
    value = p.values.get("group_id")
    if value is None or value is False:
        return None
    if value is True:
        if not client_id:
            raise InvalidArgumentError(
                f"{p.where}{p.key('group_id')}: true names the group after client_id, "
                "which is not set"
            )
        return client_id
    return check_str(p.key("group_id"), value, allow_empty=False, where=p.where)


def reader_config(confver: ConfigVersion, params: Mapping[str, Any]) -> ReaderConfig:
    """Validate reader params and build the KafkaConsumer config."""
    topics = _topics(params)
    pattern = _pattern(topics)
    consistency = consistency_name(params.get("consistency"), service_where(params, "kafka"))
    p = Params.messaging(confver, params, "kafka")
    spec = p.values
    config = _common(confver, params, _CONSUMER_KEYS)

    group_id = _group_id(p, config.get("client_id"))
    config["group_id"] = group_id

    # Default start: partitions held at open() without a committed offset start at
    # their end (messages published after open() are read); partitions that appear
    # later (topic created after open(), new pattern matches) start at their beginning,
    # so the messages that created them are not lost.
    start_at_end = "auto_offset_reset" not in spec
    if start_at_end:
        config["auto_offset_reset"] = "earliest"

    commit_before = False
    if group_id is None:
        config["enable_auto_commit"] = False
    elif consistency == "AT_MOST_ONCE":
        # Offsets of a fetched batch are committed before the first of its messages
        # is handed over, so a crash can lose messages but never repeat them.
        config["enable_auto_commit"] = False
        commit_before = True
    else:
        # Auto-commit runs inside poll(), i.e. only after the user asked for the
        # message following the whole previous batch: offsets are committed after
        # delivery. The reader rewinds undelivered records on close.
        config.setdefault("enable_auto_commit", True)
    if consistency == "EXACTLY_ONCE":
        config.setdefault("isolation_level", "read_committed")

    timeout = Params(params, where=service_where(params, "kafka")).get_number(
        "receive_timeout_ms", None, minimum=0, allow_inf=True
    )
    return ReaderConfig(
        topics=topics,
        pattern=pattern,
        consumer=config,
        consistency=consistency,
        group_id=group_id,
        receive_timeout_ms=math.inf if timeout is None else timeout,
        commit_before_delivery=commit_before,
        start_at_end=start_at_end,
    )
