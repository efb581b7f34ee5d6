"""SASL end to end: the backend's kafka-python clients against a SASL relay before Tansu.

Tansu offers no SASL, so :class:`_sasl.SaslRelay` (a test helper implementing
the broker side of PLAIN and SCRAM-SHA-256/512, not a Kafka) authenticates each
connection and then relays it to Tansu, which advertises the relay's port: every
connection of the client performs a real SASL exchange, over SASL_PLAINTEXT
and over SASL_SSL (the relay terminates TLS). The relay's counters prove which
path was taken. test_sasl_docker.py runs the same kind of checks against a real
Kafka when Docker is available.
"""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sinetstream.error import AuthenticationError, SinetError
from sinetstream.error import ConnectionError as SinetConnectionError
from sinetstream.spi import ConfigVersion, PluginMessage
from sinetstream_kafka import KafkaReader, KafkaWriter

from ._sasl import SaslEndpoint, SaslRelay, SaslServer, SaslSession, frame, rewrite_api_versions
from .conftest import SASL_USERS, Certs, _recv_exact

pytestmark = pytest.mark.kafka

V3 = ConfigVersion(3)
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PROTOCOLS = ["SASL_PLAINTEXT", "SASL_SSL"]
#: Non-ASCII on purpose: bytes credentials must be decoded as UTF-8.
PASSWORD = SASL_USERS["alice"]
WRONG = "not-alices-password-4711"
#: SaslAuthenticate requests per login: PLAIN sends one message, SCRAM two.
AUTHENTICATE_STEPS = {"PLAIN": 1, "SCRAM-SHA-256": 2, "SCRAM-SHA-512": 2}


def _endpoint(
    request: pytest.FixtureRequest, protocol: str, authenticate_max_version: int = 2
) -> tuple[SaslEndpoint, Any]:
    """The session endpoint for ``protocol`` and the matching sinetstream ``tls`` value."""
    if authenticate_max_version == 1:
        assert protocol == "SASL_PLAINTEXT"
        return request.getfixturevalue("sasl_kafka_authenticate_v1"), None
    if protocol == "SASL_PLAINTEXT":
        return request.getfixturevalue("sasl_kafka"), None
    certs: Certs = request.getfixturevalue("certs")
    return request.getfixturevalue("sasl_ssl_kafka"), {"ca_certs": str(certs.ca)}


def _params(
    bootstrap: str, tls: Any, mechanism: str, user: Any, password: Any, **kw: Any
) -> dict[str, Any]:
    spec = {"sasl_mechanism": mechanism, "sasl_plain_username": user,
            "sasl_plain_password": password, "group_id": None,
            "bootstrap_timeout_ms": kw.pop("bootstrap_timeout_ms", 3000),
            **kw.pop("spec", {})}  # fmt: skip
    return {"type": "kafka", "brokers": bootstrap, "client_id": f"sasl-{uuid.uuid4().hex[:6]}",
            "consistency": "AT_LEAST_ONCE", "tls": tls, "type_spec": spec, **kw}  # fmt: skip


def _round_trip(params: dict[str, Any]) -> bytes:
    """Publish, open a reader, publish again and return what the reader got."""
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    w = KafkaWriter(V3, {**params, "topic": topic})
    w.open()
    try:
        w.publish(PluginMessage(b"create", 1))  # creates the topic
        r = KafkaReader(V3, {**params, "topics": [topic], "receive_timeout_ms": 3000.0})
        r.open()
        try:
            w.publish(PluginMessage(b"authenticated", 1))
            return bytes(next(iter(r))[0])
        finally:
            r.close()
    finally:
        w.close()


def _chain_text(exc: BaseException) -> str:
    """str and repr of ``exc`` and of every exception it was raised from."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


#: (mechanism, protocol, the highest SaslAuthenticate version the listener offers):
#: v2 as Kafka 2.5+ everywhere, v1 as Kafka 2.2-2.4 for PLAIN and one SCRAM.
ROUND_TRIPS = [
    *((mechanism, protocol, 2) for protocol in PROTOCOLS for mechanism in MECHANISMS),
    ("PLAIN", "SASL_PLAINTEXT", 1),
    ("SCRAM-SHA-256", "SASL_PLAINTEXT", 1),
]


@pytest.mark.parametrize(
    ("mechanism", "protocol", "authenticate_version"),
    ROUND_TRIPS,
    ids=[f"{m}-{p}-authenticate-v{v}" for m, p, v in ROUND_TRIPS],
)
def test_round_trip(
    request: pytest.FixtureRequest, mechanism: str, protocol: str, authenticate_version: int
) -> None:
    endpoint, tls = _endpoint(request, protocol, authenticate_version)
    relay = endpoint.relay
    succeeded, accepted = relay.sasl.succeeded[mechanism], relay.accepted
    failed, refused, v1 = (
        sum(relay.sasl.failed.values()),
        relay.sasl.refused,
        relay.sasl.handshakes[1],
    )
    authenticates = relay.sasl.authenticates.copy()
    # Credentials decrypted from secrets arrive as bytes.
    params = _params(endpoint.bootstrap, tls, mechanism, b"alice", PASSWORD.encode())
    assert _round_trip(params) == b"authenticated"
    logins = relay.sasl.succeeded[mechanism] - succeeded
    assert logins >= 2  # the writer and the reader
    assert logins == relay.accepted - accepted  # every connection authenticated first
    assert relay.sasl.handshakes[1] - v1 == logins  # SaslHandshake v1, then SaslAuthenticate
    # kafka-python takes the highest version offered, and no other.
    steps = logins * AUTHENTICATE_STEPS[mechanism]
    assert relay.sasl.authenticates - authenticates == Counter({authenticate_version: steps})
    assert (sum(relay.sasl.failed.values()), relay.sasl.refused) == (failed, refused)


def test_api_version_2_6_round_trip(sasl_kafka: SaslEndpoint) -> None:
    """Told the broker is 2.6, kafka-python takes SaslAuthenticate v2 from its own table."""
    relay = sasl_kafka.relay
    succeeded, authenticates = (
        relay.sasl.succeeded["SCRAM-SHA-256"],
        relay.sasl.authenticates.copy(),
    )
    params = _params(sasl_kafka.bootstrap, None, "SCRAM-SHA-256", "alice", PASSWORD,
                     spec={"api_version": (2, 6)})  # fmt: skip
    assert _round_trip(params) == b"authenticated"
    logins = relay.sasl.succeeded["SCRAM-SHA-256"] - succeeded
    assert logins >= 2
    assert relay.sasl.authenticates - authenticates == Counter({2: 2 * logins})


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_handshake_v0_bare_tokens(sasl_kafka: SaslEndpoint, mechanism: str) -> None:
    """Told the broker is 0.11, kafka-python uses ApiVersions v1 and SaslHandshake v0."""
    relay = sasl_kafka.relay
    succeeded, v0 = relay.sasl.succeeded[mechanism], relay.sasl.handshakes[0]
    params = _params(sasl_kafka.bootstrap, None, mechanism, "alice", PASSWORD,
                     spec={"api_version": (0, 11)})  # fmt: skip
    assert _round_trip(params) == b"authenticated"
    assert relay.sasl.handshakes[0] - v0 == relay.sasl.succeeded[mechanism] - succeeded >= 2


@pytest.mark.timeout(30)
@pytest.mark.parametrize("role", [KafkaWriter, KafkaReader])
def test_refused_credentials_with_api_version_fail_at_open(
    sasl_kafka: SaslEndpoint, role: Any
) -> None:
    # Given api_version, kafka-python connects only when first used: the writer's open()
    # succeeded and its first publish failed after max_block_ms (60 s) with a
    # ConnectionError; a reader without a group waited in open() forever.
    relay = sasl_kafka.relay
    failed, v2 = relay.sasl.failed["SCRAM-SHA-256"], relay.sasl.authenticates[2]
    params = _params(sasl_kafka.bootstrap, None, "SCRAM-SHA-256", "alice", WRONG,
                     bootstrap_timeout_ms=800, spec={"api_version": (2, 6)},
                     topic="never", topics=["never"])  # fmt: skip
    start = time.monotonic()
    with pytest.raises(AuthenticationError):
        role(V3, params).open()
    assert time.monotonic() - start < 4
    assert relay.sasl.failed["SCRAM-SHA-256"] > failed
    assert relay.sasl.authenticates[2] > v2  # refused in a SaslAuthenticate v2 response


@pytest.mark.parametrize(
    ("mechanism", "role", "user", "protocol"),
    [
        ("PLAIN", KafkaWriter, "alice", "SASL_PLAINTEXT"),
        ("SCRAM-SHA-256", KafkaWriter, "alice", "SASL_PLAINTEXT"),
        ("SCRAM-SHA-512", KafkaReader, "alice", "SASL_SSL"),
        ("SCRAM-SHA-256", KafkaWriter, "mallory", "SASL_PLAINTEXT"),  # unknown user
    ],
    ids=["PLAIN-writer", "SCRAM-SHA-256-writer", "SCRAM-SHA-512-reader-ssl", "unknown-user"],
)
def test_refused_credentials_give_authentication_error(
    request: pytest.FixtureRequest, mechanism: str, role: Any, user: str, protocol: str
) -> None:
    endpoint, tls = _endpoint(request, protocol)
    relay = endpoint.relay
    failed, succeeded = relay.sasl.failed[mechanism], relay.sasl.succeeded[mechanism]
    params = _params(endpoint.bootstrap, tls, mechanism, user, WRONG, bootstrap_timeout_ms=800,
                     topic="never", topics=["never"])  # fmt: skip
    plugin = role(V3, params)
    start = time.monotonic()
    with pytest.raises(AuthenticationError) as info:
        plugin.open()
    assert time.monotonic() - start < 4
    assert "sasl_plain_password" in str(info.value)  # says what to check
    assert WRONG not in _chain_text(info.value)
    assert relay.sasl.failed[mechanism] > failed
    assert relay.sasl.succeeded[mechanism] == succeeded


@pytest.fixture
def scram_512_only(sasl_kafka: SaslEndpoint) -> Iterator[SaslRelay]:
    """A SASL relay to the same Tansu that enables SCRAM-SHA-512 only."""
    tansu = sasl_kafka.relay.target
    assert tansu is not None
    relay = SaslRelay(tansu, SASL_USERS, mechanisms=["SCRAM-SHA-512"])
    yield relay
    relay.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_user_name_with_comma_and_equals(sasl_kafka: SaslEndpoint, mechanism: str) -> None:
    # LDAP-backed SASL often uses distinguished names; SCRAM must escape , and =.
    relay = sasl_kafka.relay
    succeeded, failed = relay.sasl.succeeded[mechanism], relay.sasl.failed[mechanism]
    params = _params(sasl_kafka.bootstrap, None, mechanism, b"uid=alice,ou=people", PASSWORD)
    assert _round_trip(params) == b"authenticated"
    assert relay.sasl.succeeded[mechanism] - succeeded >= 2
    assert relay.sasl.failed[mechanism] == failed


def test_mechanism_not_enabled(scram_512_only: SaslRelay) -> None:
    relay = scram_512_only
    params = _params(relay.bootstrap, None, "PLAIN", "alice", PASSWORD, bootstrap_timeout_ms=800,
                     topic="never")  # fmt: skip
    start = time.monotonic()
    with pytest.raises(SinetError) as info:
        KafkaWriter(V3, params).open()
    assert time.monotonic() - start < 4
    assert isinstance(info.value, AuthenticationError)
    assert "does not enable the SASL mechanism" in str(info.value)  # not "bad credentials"
    assert "sasl_mechanism" in str(info.value)
    assert "sasl_plain_password" not in str(info.value)
    assert relay.sasl.unsupported["PLAIN"] >= 1
    assert not relay.sasl.succeeded
    assert not relay.sasl.failed


def test_sasl_ssl_checks_the_server_certificate(sasl_ssl_kafka: SaslEndpoint, certs: Certs) -> None:
    relay = sasl_ssl_kafka.relay
    accepted = relay.accepted
    params = _params(sasl_ssl_kafka.bootstrap, {"ca_certs": str(certs.other_ca)}, "SCRAM-SHA-256",
                     "alice", PASSWORD, bootstrap_timeout_ms=800, topic="never")  # fmt: skip
    with pytest.raises(SinetConnectionError) as info:
        KafkaWriter(V3, params).open()
    assert not isinstance(info.value, AuthenticationError)
    assert "certificate verify failed" in str(info.value)
    assert relay.accepted == accepted  # no connection got past TLS, so none reached SASL


def _request(api_key: int, version: int, correlation_id: int, body: bytes = b"") -> bytes:
    client_id = b"raw-test"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    return frame(header + body)


def _answer(s: socket.socket) -> bytes | None:
    head = _recv_exact(s, 4)
    return None if head is None else _recv_exact(s, struct.unpack(">i", head)[0])


@pytest.mark.parametrize(
    ("listener", "authenticate_max_version"),
    [("sasl_kafka", 2), ("sasl_kafka_authenticate_v1", 1)],
)
def test_only_api_versions_and_sasl_before_authentication(
    request: pytest.FixtureRequest, listener: str, authenticate_max_version: int
) -> None:
    """ApiVersions is relayed (advertising the relay's SASL versions); Metadata closes."""
    from kafka.protocol.metadata import ApiVersionsResponse

    relay = request.getfixturevalue(listener).relay
    refused, tansu = relay.sasl.refused, relay.target
    assert tansu is not None
    with socket.create_connection(tansu, timeout=5) as broker:
        broker.sendall(_request(18, 2, 1))
        direct = ApiVersionsResponse.decode((_answer(broker) or b"")[4:], version=2)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as s:
        s.sendall(_request(18, 2, 7))
        body = _answer(s) or b""
        s.sendall(_request(3, 1, 8, struct.pack(">i", -1)))  # Metadata v1, all topics
        assert _answer(s) is None  # closed without an answer
    assert body[:4] == struct.pack(">i", 7)
    relayed = ApiVersionsResponse.decode(body[4:], version=2)
    ranges = {k.api_key: (k.min_version, k.max_version) for k in relayed.api_keys}
    assert ranges[17] == (0, 1)
    assert ranges[36] == (0, authenticate_max_version)
    assert ranges[3] == {k.api_key: (k.min_version, k.max_version) for k in direct.api_keys}[3]
    assert relay.sasl.refused == refused + 1


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_rewrite_api_versions_adds_what_the_broker_lacks(version: int) -> None:
    from kafka.protocol.metadata import ApiVersionsResponse

    extra: dict[str, Any] = {"throttle_time_ms": 5} if version >= 1 else {}
    if version >= 3:  # top-level tagged fields must survive the rewrite
        extra.update(supported_features=[("metadata.version", 1, 20)], finalized_features_epoch=9)
    response = ApiVersionsResponse(
        version=version, error_code=0, api_keys=[(0, 0, 11), (36, 0, 2), (18, 0, 4)], **extra
    )
    response.with_header(correlation_id=42)
    body = response.encode(framed=False, header=True)
    rewritten = rewrite_api_versions(body, version, {17: (0, 1), 36: (0, 1)})
    assert rewritten[:4] == struct.pack(">i", 42)
    decoded = ApiVersionsResponse.decode(rewritten[4:], version=version)
    ranges = {k.api_key: (k.min_version, k.max_version) for k in decoded.api_keys}
    assert ranges == {0: (0, 11), 36: (0, 1), 18: (0, 4), 17: (0, 1)}
    for name, value in extra.items():
        got = getattr(decoded, name)
        if name == "supported_features":
            got = [(f.name, f.min_version, f.max_version) for f in got]
        assert got == value
    refused = struct.pack(">ih", 42, 35) + body[6:]  # UNSUPPORTED_VERSION: left as it is
    assert rewrite_api_versions(refused, version) == refused


def _kafka_python_request(request: Any, correlation_id: int) -> bytes:
    """``request`` (a kafka-python request) with its header, without the frame length."""
    request.with_header(correlation_id=correlation_id, client_id="wire-test")
    return bytes(request.encode(header=True))


@pytest.mark.parametrize("version", [0, 1, 2])
def test_authenticate_wire_format_matches_kafka_python(version: int) -> None:
    """Each SaslAuthenticate version as kafka-python encodes and decodes it, answer and refusal."""
    from kafka.protocol.sasl import (
        SaslAuthenticateRequest,
        SaslAuthenticateResponse,
        SaslHandshakeRequest,
    )

    def exchange(mechanism: str, token: bytes) -> tuple[Any, bool]:
        session = server.session()
        handshake = SaslHandshakeRequest(mechanism=mechanism, version=1)
        assert session.receive(_kafka_python_request(handshake, 1)).reply
        request = SaslAuthenticateRequest(auth_bytes=token, version=version)
        step = session.receive(_kafka_python_request(request, 2))
        assert step.forward is None
        assert step.reply[:4] == struct.pack(">i", len(step.reply) - 4)
        response = SaslAuthenticateResponse.decode(step.reply[4:], version=version, header=True)
        assert response.header.correlation_id == 2
        if version >= 1:
            assert response.session_lifetime_ms == 0
        return response, step.close

    server = SaslServer(SASL_USERS, ["PLAIN", "SCRAM-SHA-256"])
    answer, close = exchange("SCRAM-SHA-256", b"n,,n=alice,r=client-nonce")
    assert (answer.error_code, answer.error_message, close) == (0, None, False)
    assert answer.auth_bytes.startswith(b"r=client-nonce")
    assert b",s=" in answer.auth_bytes
    assert b",i=4096" in answer.auth_bytes

    refusal, close = exchange("PLAIN", b"\0alice\0" + WRONG.encode())
    assert (refusal.error_code, refusal.auth_bytes, close) == (58, b"", True)
    assert refusal.error_message == "Authentication failed: invalid username or password"
    assert server.authenticates == Counter({version: 2})
    assert server.failed == Counter({"PLAIN": 1})


def _plain_session(server: SaslServer) -> SaslSession:
    """A session of ``server`` past a SaslHandshake v1 for PLAIN."""
    session = server.session()
    handshake = struct.pack(">hhih", 17, 1, 1, 1) + b"t" + struct.pack(">h", 5) + b"PLAIN"
    assert session.receive(handshake).reply
    return session


def test_authenticate_v2_skips_tagged_fields() -> None:
    """Header v2 and the v2 body may carry tagged fields; the relay reads past them."""
    session = _plain_session(SaslServer(SASL_USERS, ["PLAIN"]))
    token = b"\0alice\0" + PASSWORD.encode()
    # Header v2 with one tagged field (tag 0, 3 bytes) after the client id "t".
    header = struct.pack(">hhih", 36, 2, 2, 1) + b"t" + bytes([1, 0, 3]) + b"tag"
    body = bytes([len(token) + 1]) + token + bytes([1, 5, 2]) + b"ok"
    step = session.receive(header + body)
    assert not step.close
    assert session.authenticated
    # Response header v1, no error, null message, empty auth bytes, no session lifetime.
    expected = struct.pack(">i", 2) + bytes([0]) + struct.pack(">hBB", 0, 0, 1)
    assert step.reply == frame(expected + struct.pack(">q", 0) + bytes([0]))


def test_authenticate_above_the_advertised_version_closes() -> None:
    server = SaslServer(SASL_USERS, ["PLAIN"], authenticate_max_version=1)
    session = _plain_session(server)
    token = b"\0alice\0" + PASSWORD.encode()
    v2 = struct.pack(">hhih", 36, 2, 2, 1) + b"t" + bytes([0, len(token) + 1]) + token + b"\0"
    step = session.receive(v2)
    assert (step.reply, step.close) == (b"", True)
    assert not session.authenticated
    assert (server.refused, server.authenticates) == (1, Counter())
