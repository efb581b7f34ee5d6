"""Parameter parsing: config versions 2 and 3, defaults, validation (no broker)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.enums import MQTTProtocolVersion
from sinetstream.error import InvalidArgumentError
from sinetstream.spi import ConfigVersion
from sinetstream_mqtt import MqttAsyncReader, MqttAsyncWriter, MqttReader, MqttWriter
from sinetstream_mqtt._params import MqttSettings, parse_settings

V2 = ConfigVersion(2)
V3 = ConfigVersion(3)


def writer_settings(confver: ConfigVersion = V3, **params: Any) -> MqttSettings:
    base: dict[str, Any] = {"type": "mqtt", "brokers": "h", "topic": "t", "client_id": "c"}
    base.update(params)
    return parse_settings(confver, base, "writer")


def test_defaults() -> None:
    s = writer_settings()
    assert (s.host, s.port, s.transport, s.protocol) == (
        "h",
        1883,
        "tcp",
        MQTTProtocolVersion.MQTTv311,
    )
    assert (s.qos, s.retain, s.keepalive, s.connection_timeout) == (0, False, 60, 10.0)
    assert s.clean_session is None
    assert s.clean_start == MQTT_CLEAN_START_FIRST_ONLY
    assert s.tls is None
    assert s.will is None
    assert s.offline_publish == "error"


@pytest.mark.parametrize(
    ("brokers", "tls", "transport", "expected"),
    [
        ("h", None, "tcp", ("h", 1883)),
        ("h", True, "tcp", ("h", 8883)),
        ("h", None, "websockets", ("h", 80)),
        ("h", {"ca_certs": "x"}, "websockets", ("h", 443)),
        ("h:1234", True, "tcp", ("h", 1234)),
        (["h:99"], None, "tcp", ("h", 99)),
        ("[::1]:1884", None, "tcp", ("::1", 1884)),
        ("[::1]", None, "tcp", ("::1", 1883)),
    ],
)
def test_broker_and_default_ports(
    brokers: Any, tls: Any, transport: str, expected: tuple[str, int]
) -> None:
    s = writer_settings(brokers=brokers, tls=tls, type_spec={"transport": transport})
    assert (s.host, s.port) == expected


@pytest.mark.parametrize("brokers", [None, "", "a:1,b:2", ["a", "b"], "h:0", "h:x", "h:70000"])
def test_bad_brokers(brokers: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="broker"):
        writer_settings(brokers=brokers)


@pytest.mark.parametrize(
    ("consistency", "qos"),
    [(None, 0), ("AT_MOST_ONCE", 0), ("AT_LEAST_ONCE", 1), ("EXACTLY_ONCE", 2), (1, 0), (3, 2)],
)
def test_consistency_to_qos(consistency: Any, qos: int) -> None:
    assert writer_settings(consistency=consistency).qos == qos


def test_consistency_enum_member() -> None:
    from sinetstream import Consistency

    assert writer_settings(consistency=Consistency.EXACTLY_ONCE).qos == 2
    assert writer_settings(consistency=Consistency.AT_LEAST_ONCE).qos == 1


def test_qos_overrides_consistency() -> None:
    assert writer_settings(consistency="AT_MOST_ONCE", type_spec={"qos": 2}).qos == 2
    with pytest.raises(InvalidArgumentError, match="qos"):
        writer_settings(type_spec={"qos": 3})


def test_v3_ignores_flat_params_and_v2_reads_them() -> None:
    assert writer_settings(V3, qos=1, retain=True).qos == 0
    s = writer_settings(V2, qos=1, retain=True, keepalive=5)
    assert (s.qos, s.retain, s.keepalive) == (1, True, 5)


def test_v2_setter_names_match_v3_names() -> None:
    common = {
        "max_inflight_messages": {"inflight": 7},
        "max_queued_messages": {"queue_size": 9},
        "ws_options": {"path": "/ws", "headers": {"X-A": "1"}},
        "tls": {
            "ca_certs": "/ca.pem",
            "cert_reqs": "CERT_REQUIRED",
            "tls_version": "PROTOCOL_TLS_CLIENT",
        },
        "tls_insecure": {"value": True},
        "username_pw": {"username": b"u", "password": b"p\xc3\xa9"},
        "reconnect_delay": {"min_delay": 0.5, "max_delay": 4},
        "transport": "websockets",
    }
    v3 = writer_settings(V3, type_spec=common)
    v2 = writer_settings(
        V2,
        max_inflight_messages_set=common["max_inflight_messages"],
        max_queued_messages_set=common["max_queued_messages"],
        ws_set_options=common["ws_options"],
        tls_set=common["tls"],
        tls_insecure_set=common["tls_insecure"],
        username_pw_set=common["username_pw"],
        reconnect_delay_set=common["reconnect_delay"],
        transport="websockets",
    )
    assert v2 == v3
    assert v3.max_inflight_messages == 7
    assert v3.max_queued_messages == 9
    assert (v3.ws_path, v3.ws_headers) == ("/ws", {"X-A": "1"})
    assert v3.tls == {
        "ca_certs": "/ca.pem",
        "cert_reqs": ssl.CERT_REQUIRED,
        "tls_version": ssl.PROTOCOL_TLS_CLIENT,
    }
    assert v3.tls_insecure is True
    assert (v3.username, v3.password) == ("u", "pé")  # bytes from secrets become str
    assert v3.reconnect_delay == (0.5, 4.0)
    assert "p\xe9" not in repr(v3)  # the password never shows in a repr


@pytest.mark.parametrize("order", ["setter first", "v3 name first"])
def test_both_spellings_is_an_error(order: str) -> None:
    pairs = [("tls_insecure_set", True), ("tls_insecure", False)]
    if order != "setter first":
        pairs.reverse()
    with pytest.raises(InvalidArgumentError, match="tls_insecure_set and tls_insecure"):
        writer_settings(V2, **dict(pairs))


def test_scalar_forms_accepted() -> None:
    s = writer_settings(type_spec={"max_inflight_messages": 3, "tls_insecure": False, "tls": True})
    assert s.max_inflight_messages == 3
    assert s.tls_insecure is False


def test_type_spec_tls_overrides_common_tls() -> None:
    # Reference bug #17: there the common tls mapping won.
    s = writer_settings(
        tls={"ca_certs": "/common.pem", "ciphers": "HIGH", "check_hostname": True},
        type_spec={"tls": {"ca_certs": "/specific.pem"}, "tls_insecure": True},
    )
    assert s.tls == {"ca_certs": "/specific.pem", "ciphers": "HIGH"}
    assert s.tls_insecure is True
    s = writer_settings(tls={"check_hostname": False})
    assert s.tls == {}
    assert s.tls_insecure is True
    assert writer_settings(tls=False).tls is None


def test_bad_tls_constants() -> None:
    with pytest.raises(InvalidArgumentError, match="cert_reqs"):
        writer_settings(type_spec={"tls": {"cert_reqs": "CERT_SOMETIMES"}})
    with pytest.raises(InvalidArgumentError, match="tls_version"):
        writer_settings(type_spec={"tls": {"tls_version": "SSLv9"}})


def test_protocol_transport_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="protocol"):
        writer_settings(type_spec={"protocol": "MQTTv4"})
    with pytest.raises(InvalidArgumentError, match="transport"):
        writer_settings(type_spec={"transport": "udp"})
    assert (
        writer_settings(type_spec={"protocol": "MQTTv31"}).protocol == MQTTProtocolVersion.MQTTv31
    )


def test_session_flags() -> None:
    assert writer_settings(type_spec={"clean_session": False}).clean_session is False
    with pytest.raises(InvalidArgumentError, match="clean_session"):
        writer_settings(type_spec={"protocol": "MQTTv5", "clean_session": False})
    with pytest.raises(InvalidArgumentError, match="clean_start"):
        writer_settings(type_spec={"clean_start": False})
    s = writer_settings(type_spec={"protocol": "MQTTv5", "clean_start": False})
    assert s.clean_start is False
    persistent3 = writer_settings(type_spec={"persistent_session": True})
    assert persistent3.clean_session is False
    persistent5 = writer_settings(type_spec={"protocol": "MQTTv5", "persistent_session": True})
    assert persistent5.clean_start is False
    assert persistent5.connect_properties["session_expiry_interval"] == 0xFFFFFFFF
    with pytest.raises(InvalidArgumentError, match="client_id"):
        writer_settings(client_id=None, type_spec={"clean_session": False})


def test_v5_connect_properties() -> None:
    spec = {
        "protocol": "MQTTv5",
        "session_expiry_interval": 30,
        "receive_maximum": 10,
        "maximum_packet_size": 100000,
        "topic_alias_maximum": 5,
        "request_response_info": True,
        "request_problem_info": False,
        "user_property": {"site": "lab", "n": 1},
        "auth_method": "SCRAM-SHA-1",
        "auth_data": b"\x00\x01client-first",
    }
    props = writer_settings(type_spec=spec).build_connect_properties()
    assert props is not None
    assert props.SessionExpiryInterval == 30
    assert props.ReceiveMaximum == 10
    assert props.MaximumPacketSize == 100000
    assert props.TopicAliasMaximum == 5
    assert props.RequestResponseInformation == 1
    assert props.RequestProblemInformation == 0
    assert props.UserProperty == [("site", "lab"), ("n", "1")]
    assert props.AuthenticationMethod == "SCRAM-SHA-1"
    # auth_data reaches paho as the bytes given (reference bug #6 turned it into a file path).
    assert props.AuthenticationData == b"\x00\x01client-first"
    assert writer_settings().build_connect_properties() is None


def test_v5_properties_need_v5() -> None:
    with pytest.raises(InvalidArgumentError, match="MQTTv5"):
        writer_settings(type_spec={"session_expiry_interval": 30})


def test_topics() -> None:
    with pytest.raises(InvalidArgumentError, match="wildcards"):
        writer_settings(topic="a/#")
    with pytest.raises(InvalidArgumentError, match="one topic"):
        writer_settings(topic=None)
    with pytest.raises(InvalidArgumentError, match="65535 bytes"):  # paho would raise ValueError
        writer_settings(topic="é" * 32768)
    assert writer_settings(topic="t" * 65535).topic == "t" * 65535
    reader = parse_settings(V3, {"brokers": "h", "topics": ["a/+", "b/#"]}, "reader")
    assert reader.topics == ("a/+", "b/#")
    with pytest.raises(InvalidArgumentError, match="topics"):
        parse_settings(V3, {"brokers": "h", "topics": []}, "reader")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("keepalive", 0),
        ("keepalive", "60"),
        ("connection_timeout", -1),
        ("receive_buffer_size", 0),
        ("receive_buffer_bytes", 0),
        ("receive_buffer_bytes", 1.5),
        ("offline_publish", "drop"),
        ("publish_timeout", 0),
        ("max_queued_messages", {"size": 3}),
        ("reconnect_delay", {"min_delay": 5, "max_delay": 1}),
        ("username_pw", "alice"),
        ("ws_options", {"paths": "/"}),
        ("user_property", 5),
    ],
)
def test_invalid_values(key: str, value: Any) -> None:
    spec = {key: value}
    if key == "user_property":
        spec["protocol"] = "MQTTv5"
    with pytest.raises(InvalidArgumentError):
        writer_settings(type_spec=spec)


@pytest.mark.parametrize(
    ("key", "value"),
    [("connection_timeout", float("nan")), ("close_timeout", float("nan")), ("qos", 1.0)],
)
def test_nan_seconds_and_float_qos_are_rejected(key: str, value: Any) -> None:
    # NaN once passed the "positive" check; a float QoS reached paho as it was.
    with pytest.raises(InvalidArgumentError, match=key):
        writer_settings(type_spec={key: value})


def test_messages_name_the_service_and_the_key_path() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        writer_settings(service="sensors", type_spec={"keepalive": 0})
    assert str(info.value) == (
        "mqtt service 'sensors': type_spec.keepalive: must be an integer >= 1, got 0"
    )
    with pytest.raises(
        InvalidArgumentError, match=r"^mqtt: will\.qos: must be an integer in 0\.\.2"
    ):
        writer_settings(V2, will={"topic": "w", "payload": b"x", "qos": 3})


def test_will_is_a_sinetstream_message() -> None:
    from sinetstream._codec import SINETStreamMessageDecoder

    s = writer_settings(
        consistency="AT_LEAST_ONCE",
        type_spec={"will": {"topic": "w", "payload": "bye", "value_type": "text", "retain": True}},
    )
    assert s.will is not None
    assert (s.will.topic, s.will.qos, s.will.retain, s.will.delay_interval) == ("w", 1, True, None)
    assert s.will.payload[:4] == b"\xdf\x03\x00\x00"
    message = SINETStreamMessageDecoder(value_type="text").decode(s.will.payload)
    assert message.value == "bye"
    assert message.timestamp_us == 0


def test_will_encrypted_and_v2_name() -> None:
    from sinetstream._codec import SINETStreamMessageDecoder

    crypto = {
        "algorithm": "AES",
        "mode": "GCM",
        "password": "pw",
        "key_derivation": {"iteration": 100},
    }
    will = {"topic": "w", "payload": b"gone", "qos": 2, "data_encryption": True, "crypto": crypto}
    s = writer_settings(V2, will_set=will)
    assert s.will is not None
    assert s.will.qos == 2
    decoded = SINETStreamMessageDecoder(data_encryption=True, crypto=crypto).decode(s.will.payload)
    assert decoded.value == b"gone"


@pytest.mark.parametrize(
    ("will", "match"),
    [
        ({"payload": b"x"}, "topic"),
        ({"topic": "w"}, "payload"),
        ({"topic": "w/#", "payload": b"x"}, "wildcard|must not"),
        ({"topic": "w", "payload": b"x", "qos": 5}, "qos"),
        ({"topic": "w", "payload": b"x", "delay_interval": 5}, "MQTTv5"),
    ],
)
def test_bad_will(will: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        writer_settings(type_spec={"will": will})


def test_plugin_classes_follow_the_spi() -> None:
    from sinetstream import spi

    assert issubclass(MqttReader, spi.PluginMessageReader)
    assert issubclass(MqttWriter, spi.PluginMessageWriter)
    assert issubclass(MqttAsyncReader, spi.PluginAsyncMessageReader)
    assert issubclass(MqttAsyncWriter, spi.PluginAsyncMessageWriter)
    reader = MqttAsyncReader(V3, {"brokers": "h", "topics": ["t"], "client_id": "c"})

    def on_failure(exc: BaseException, tb: Any) -> None:
        pass

    reader.on_failure = on_failure  # reference bug #2: this raised AttributeError
    assert reader.on_failure is on_failure


def test_entry_points_registered() -> None:
    from importlib.metadata import entry_points

    for group in ("reader", "writer", "async_reader", "async_writer"):
        (ep,) = [e for e in entry_points(group=f"sinetstream.{group}") if e.name == "mqtt"]
        assert ep.value.startswith("sinetstream_mqtt:")
        assert ep.load().__module__.startswith("sinetstream_mqtt")


def test_public_names() -> None:
    from importlib import metadata

    import sinetstream_mqtt

    assert sinetstream_mqtt.__all__ == sorted(sinetstream_mqtt.__all__)
    assert set(sinetstream_mqtt.__all__) == {
        "MqttAsyncReader",
        "MqttAsyncWriter",
        "MqttReader",
        "MqttWriter",
        "SPI_VERSION_REQUIRED",
        "__version__",
    }
    assert sinetstream_mqtt.__version__ == metadata.version("sinetstream-mqtt")
