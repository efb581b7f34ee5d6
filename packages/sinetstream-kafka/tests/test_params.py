"""Parameter mapping, without a broker: what reaches KafkaProducer / KafkaConsumer."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion
from sinetstream_kafka import KafkaAsyncReader, KafkaAsyncWriter, KafkaReader, KafkaWriter
from sinetstream_kafka._params import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BOOTSTRAP_TIMEOUT_MS,
    consistency_name,
    reader_config,
    writer_config,
)

V3 = ConfigVersion(3)
V2 = ConfigVersion(2)


def wparams(**kw: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": "k1:9092", "topic": "t", "client_id": "cid", **kw}


def rparams(**kw: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": "k1:9092", "topics": ["t"], "topic": "t",
            "client_id": "cid", "receive_timeout_ms": float("inf"), **kw}  # fmt: skip


def test_brokers_and_client_id_reach_kafka() -> None:
    w = writer_config(V3, wparams(brokers="k1:9092, k2:9093"))
    assert w.producer["bootstrap_servers"] == ["k1:9092", "k2:9093"]
    assert w.producer["client_id"] == "cid"  # the reference dropped it in v3 configs
    r = reader_config(V3, rparams(brokers=["k1:9092"]))
    assert r.consumer["client_id"] == "cid"
    assert r.consumer["bootstrap_timeout_ms"] == DEFAULT_BOOTSTRAP_TIMEOUT_MS


@pytest.mark.parametrize("brokers", [None, "", [], " , "])
def test_missing_brokers_rejected(brokers: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="brokers"):
        writer_config(V3, wparams(brokers=brokers))


def test_writer_needs_one_topic() -> None:
    with pytest.raises(InvalidArgumentError, match="topic"):
        KafkaWriter(V3, wparams(topic=None))
    assert writer_config(V3, wparams(topic=["only"])).topic == "only"


@pytest.mark.parametrize(
    ("consistency", "acks", "idempotent"),
    [("AT_MOST_ONCE", 1, False), ("AT_LEAST_ONCE", -1, False), ("EXACTLY_ONCE", -1, True)],
)
def test_writer_consistency(consistency: str, acks: int, idempotent: bool) -> None:
    cfg = writer_config(V3, wparams(consistency=consistency)).producer
    assert cfg["acks"] == acks
    assert cfg["enable_idempotence"] is idempotent
    assert (cfg.get("retries") == 0) is (consistency == "AT_MOST_ONCE")
    assert cfg["batch_size"] == DEFAULT_BATCH_SIZE == 256 * 1024


def test_batch_size_default_yields_to_type_spec_and_flat_v2() -> None:
    assert (
        writer_config(V3, wparams(type_spec={"batch_size": 16384})).producer["batch_size"] == 16384
    )
    assert writer_config(V2, wparams(batch_size=1000)).producer["batch_size"] == 1000
    assert "batch_size" not in reader_config(V3, rparams()).consumer


def test_consistency_accepts_enum_like_and_ints() -> None:
    class Fake:
        name = "AT_LEAST_ONCE"

    assert consistency_name(Fake()) == "AT_LEAST_ONCE"
    assert consistency_name(3) == "EXACTLY_ONCE"
    assert consistency_name(None) == "AT_MOST_ONCE"
    with pytest.raises(InvalidArgumentError):
        consistency_name("SOMETIMES")


@pytest.mark.parametrize("spec", [{"acks": 1}, {"enable_idempotence": False}, {"acks": 0}])
def test_exactly_once_refuses_weaker_settings(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="EXACTLY_ONCE"):
        writer_config(V3, wparams(consistency="EXACTLY_ONCE", type_spec=spec))


def test_type_spec_keys_go_where_accepted() -> None:
    spec = {"linger_ms": 5, "batch_size": 65536, "fetch_min_bytes": 10, "request_timeout_ms": 40000}
    w = writer_config(V3, wparams(type_spec=spec)).producer
    r = reader_config(V3, rparams(type_spec=spec)).consumer
    assert w["linger_ms"] == 5
    assert w["batch_size"] == 65536
    assert "fetch_min_bytes" not in w
    assert r["fetch_min_bytes"] == 10
    assert "linger_ms" not in r  # a producer-only key never breaks a reader
    assert w["request_timeout_ms"] == r["request_timeout_ms"] == 40000
    assert set(w) <= set(KafkaProducer.DEFAULT_CONFIG)
    assert set(r) <= set(KafkaConsumer.DEFAULT_CONFIG)


def test_unknown_type_spec_key_rejected_in_v3() -> None:
    with pytest.raises(InvalidArgumentError, match="lingerms"):
        writer_config(V3, wparams(type_spec={"lingerms": 5}))


def test_v2_flat_params(caplog: pytest.LogCaptureFixture) -> None:
    params = wparams(linger_ms=7, fetch_min_bytes=3, acks=1, some_app_key=1)
    with caplog.at_level(logging.WARNING, "sinetstream_kafka"):
        w = writer_config(V2, params).producer
    assert w["linger_ms"] == 7
    assert w["acks"] == 1
    assert "fetch_min_bytes" not in w
    assert "some_app_key" not in w
    assert "some_app_key" in caplog.text
    # v3 ignores flat keys, as the reference does
    assert "linger_ms" not in writer_config(V3, params).producer


def test_reserved_keys_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="value_serializer"):
        writer_config(V3, wparams(type_spec={"value_serializer": str.encode}))


def test_tls_mapping() -> None:
    assert writer_config(V3, wparams(tls=True)).producer["security_protocol"] == "SSL"
    assert "security_protocol" not in writer_config(V3, wparams(tls=False)).producer
    cfg = writer_config(
        V3,
        wparams(tls={"ca_certs": "/ca", "certfile": "/c", "keyfile": "/k", "ciphers": "HIGH",
                     "check_hostname": False, "keyfile_password": "pw"}),
    ).producer  # fmt: skip
    assert cfg["security_protocol"] == "SSL"
    assert (cfg["ssl_cafile"], cfg["ssl_certfile"], cfg["ssl_keyfile"]) == ("/ca", "/c", "/k")
    assert cfg["ssl_ciphers"] == "HIGH"
    assert cfg["ssl_check_hostname"] is False
    assert cfg["ssl_password"] == "pw"


def test_tls_java_only_keys_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "sinetstream_kafka"):
        cfg = writer_config(V3, wparams(tls={"trustStore": "/x.jks", "ca_certs": "/ca"})).producer
    assert "trustStore" in caplog.text
    assert cfg["ssl_cafile"] == "/ca"
    with pytest.raises(InvalidArgumentError):
        writer_config(V3, wparams(tls="yes"))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize(("tls", "protocol"), [(None, "SASL_PLAINTEXT"), (True, "SASL_SSL")])
def test_sasl_mapping(mechanism: str, tls: Any, protocol: str) -> None:
    spec = {"sasl_mechanism": mechanism, "sasl_plain_username": b"alice",
            "sasl_plain_password": bytearray(b"s3cr\xc3\xa9t")}  # fmt: skip
    for cfg in (
        writer_config(V3, wparams(tls=tls, type_spec=spec)).producer,
        reader_config(V3, rparams(tls=tls, type_spec=spec)).consumer,
    ):
        # credentials decrypted from secrets arrive as bytes: kafka-python wants str
        assert cfg["sasl_plain_username"] == "alice"
        assert cfg["sasl_plain_password"] == "s3crét"
        assert cfg["sasl_mechanism"] == mechanism
        assert cfg["security_protocol"] == protocol


@pytest.mark.parametrize(
    ("mechanism", "sent"),
    [
        ("PLAIN", "uid=a,ou=b"),
        ("SCRAM-SHA-256", "uid=3Da=2Cou=3Db"),
        ("SCRAM-SHA-512", "uid=3Da=2Cou=3Db"),
    ],
)
def test_scram_user_name_is_escaped(mechanism: str, sent: str) -> None:
    spec = {"sasl_mechanism": mechanism, "sasl_plain_username": b"uid=a,ou=b",
            "sasl_plain_password": "p"}  # fmt: skip
    assert writer_config(V3, wparams(type_spec=spec)).producer["sasl_plain_username"] == sent


def test_sasl_explicit_protocol_wins() -> None:
    spec = {"sasl_mechanism": "PLAIN", "security_protocol": "SASL_SSL",
            "sasl_plain_username": "u", "sasl_plain_password": "p"}  # fmt: skip
    assert writer_config(V3, wparams(type_spec=spec)).producer["security_protocol"] == "SASL_SSL"


def test_password_never_in_errors() -> None:
    spec = {"sasl_mechanism": "PLAIN", "sasl_plain_username": "u",
            "sasl_plain_password": b"\xff\xfe-topsecret"}  # fmt: skip
    with pytest.raises(InvalidArgumentError) as info:
        writer_config(V3, wparams(type_spec=spec))
    assert "topsecret" not in str(info.value)
    assert "sasl_plain_password" in str(info.value)


def test_reader_has_no_group_by_default() -> None:
    """As SINETStream 1.10: no group (no join, no commits) unless group_id names one."""
    r = reader_config(V3, rparams())
    assert r.group_id is None
    assert r.consumer["group_id"] is None
    assert r.consumer["enable_auto_commit"] is False
    assert r.commit_before_delivery is False
    pattern = reader_config(V3, rparams(topics=["^a.*"]))
    assert pattern.group_id is None
    assert pattern.pattern is not None


@pytest.mark.parametrize(
    ("value", "group_id"), [(None, None), (False, None), ("shared", "shared"), (True, "cid")]
)
def test_reader_group_id(value: Any, group_id: str | None) -> None:
    r = reader_config(V3, rparams(type_spec={"group_id": value}))
    assert r.group_id == r.consumer["group_id"] == group_id
    flat = reader_config(V2, rparams(group_id=value))
    assert flat.group_id == group_id


def test_reader_with_group_at_most_once_commits_before_delivery() -> None:
    r = reader_config(V3, rparams(type_spec={"group_id": True}))
    assert r.consumer["enable_auto_commit"] is False  # AT_MOST_ONCE commits itself
    assert r.commit_before_delivery is True


@pytest.mark.parametrize("value", ["", 3, ["g"]])
def test_bad_group_ids_are_refused(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="group_id"):
        reader_config(V3, rparams(type_spec={"group_id": value}))


def test_group_id_true_needs_a_client_id() -> None:
    params = rparams(type_spec={"group_id": True})
    del params["client_id"]
    with pytest.raises(InvalidArgumentError, match="client_id"):
        reader_config(V3, params)


def test_exactly_once_reads_committed_with_or_without_group() -> None:
    for spec in ({}, {"group_id": None}, {"group_id": "g"}):
        r = reader_config(V3, rparams(consistency="EXACTLY_ONCE", type_spec=spec))
        assert r.consumer["isolation_level"] == "read_committed"


@pytest.mark.parametrize("consistency", ["AT_LEAST_ONCE", "EXACTLY_ONCE"])
def test_reader_at_least_once_commits_after_delivery(consistency: str) -> None:
    r = reader_config(V3, rparams(consistency=consistency, type_spec={"group_id": "g"}))
    assert r.consumer["enable_auto_commit"] is True
    assert r.commit_before_delivery is False
    assert (r.consumer.get("isolation_level") == "read_committed") is (
        consistency == "EXACTLY_ONCE"
    )


def test_reader_offset_reset() -> None:
    r = reader_config(V3, rparams())
    assert r.start_at_end is True
    assert r.consumer["auto_offset_reset"] == "earliest"
    r = reader_config(V3, rparams(type_spec={"auto_offset_reset": "latest"}))
    assert r.start_at_end is False
    assert r.consumer["auto_offset_reset"] == "latest"


def test_reader_topics_and_patterns() -> None:
    r = reader_config(V3, {**rparams(), "topics": ["plain", "^sensor-[0-9]+$"]})
    assert r.pattern is not None
    rx = re.compile(r.pattern)
    assert rx.match("plain")
    assert not rx.match("plainer")
    assert rx.match("sensor-42")
    assert reader_config(V3, rparams()).pattern is None
    with pytest.raises(InvalidArgumentError, match="pattern"):
        reader_config(V3, {**rparams(), "topics": ["^(unclosed"]})
    with pytest.raises(InvalidArgumentError):
        reader_config(V3, {**rparams(), "topics": [], "topic": None})


def test_receive_timeout_validated() -> None:
    assert reader_config(V3, rparams(receive_timeout_ms=250)).receive_timeout_ms == 250.0
    with pytest.raises(InvalidArgumentError):
        reader_config(V3, rparams(receive_timeout_ms="soon"))


def test_classes_construct_without_a_broker() -> None:
    for cls, params in ((KafkaWriter, wparams()), (KafkaAsyncWriter, wparams()),
                        (KafkaReader, rparams()), (KafkaAsyncReader, rparams())):  # fmt: skip
        plugin = cls(V3, params)
        assert plugin.metrics() is None
        assert plugin.info(["open"], {}) is False


def test_async_writer_refuses_transactions() -> None:
    with pytest.raises(InvalidArgumentError, match="transactional_id"):
        KafkaAsyncWriter(V3, wparams(consistency="EXACTLY_ONCE",
                                     type_spec={"transactional_id": "tx"}))  # fmt: skip


def test_exports_and_entry_points() -> None:
    from importlib.metadata import entry_points

    import sinetstream_kafka

    assert sinetstream_kafka.__all__ == sorted(sinetstream_kafka.__all__)
    assert all(hasattr(sinetstream_kafka, name) for name in sinetstream_kafka.__all__)
    expected = {
        "sinetstream.reader": KafkaReader,
        "sinetstream.writer": KafkaWriter,
        "sinetstream.async_reader": KafkaAsyncReader,
        "sinetstream.async_writer": KafkaAsyncWriter,
    }
    for group, cls in expected.items():
        (ep,) = [ep for ep in entry_points(group=group) if ep.name == "kafka"]
        assert ep.load() is cls


class _Counter:
    """A stand-in for kafka-python's ``connection-count`` metric (no broker here)."""

    def __init__(self) -> None:
        self.count = 1
        self.name = type("Name", (), {"name": "connection-count"})()

    def value(self) -> int:
        return self.count


def test_a_flapping_connection_is_still_an_outage() -> None:
    from sinetstream_kafka._fetch import OUTAGE_REPORT_S as _OUTAGE_REPORT_S
    from sinetstream_kafka._fetch import ConnectionWatch as _ConnectionWatch

    metric = _Counter()
    consumer = type("Consumer", (), {"metrics": lambda _self, raw: {metric.name: metric}})()
    now = [0.0]
    watch = _ConnectionWatch(consumer, clock=lambda: now[0])
    assert watch.outage() == 0.0
    # Down, then a connection accepted and dropped every 0.3 s (a proxy refusing).
    worst = 0.0
    for step in range(20):
        now[0] += 0.15
        metric.count = step % 2
        worst = max(worst, watch.outage())
    assert worst >= _OUTAGE_REPORT_S
    # A connection that stays up ends it.
    metric.count = 1
    for _ in range(10):
        now[0] += 0.15
        assert watch.outage() == 0.0
    metric.count = 0
    now[0] += 0.1
    assert watch.outage() == 0.0  # a new outage starts from zero


def test_open_asks_for_metadata_without_the_retry_backoff() -> None:
    """A group-less open() sends its first metadata request at once, then restores the spacing."""
    from kafka.cluster import ClusterMetadata
    from sinetstream_kafka._consumer import _no_metadata_backoff

    cluster = ClusterMetadata(retry_backoff_ms=100)
    with _no_metadata_backoff(cluster):
        assert cluster.refresh_backoff() == 0
    assert cluster.refresh_backoff() == 100
