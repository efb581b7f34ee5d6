"""A SASL-authenticating Kafka relay: the broker side of PLAIN and SCRAM, for tests.

No Kafka-protocol broker installable here offers SASL, so :class:`SaslRelay`
plays the part of a SASL listener in front of a plaintext broker (Tansu). Per
client connection it

* forwards ApiVersions requests and rewrites the answer so that it advertises
  SaslHandshake v0-1 and SaslAuthenticate v0-2 (as Kafka 2.5+ does; the
  ``authenticate_max_version`` argument lowers the latter), whatever the
  broker listed for them;
* answers SaslHandshake and SaslAuthenticate itself: PLAIN (RFC 4616) and
  SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) against stored
  credentials; refused credentials get SASL_AUTHENTICATION_FAILED and the
  connection is closed, as Kafka does. SaslAuthenticate v2 is a flexible
  version (KIP-482): request header v2, compact bytes and tagged fields, and
  response header v1;
* closes the connection on any other request before authentication, as a
  Kafka SASL listener does;
* once the client is authenticated, relays raw bytes both ways (:class:`Relay`).

It is a test helper, not a Kafka: no re-authentication (the session lifetime
is 0), no channel binding, no SASLprep (names and passwords are compared as
UTF-8, as Kafka does). The wire helpers and :class:`SaslSession` are pure (bytes
in, bytes out); :class:`SaslRelay` does the I/O.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import ssl
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .conftest import Relay

__all__ = [
    "ADVERTISED",
    "AUTHENTICATE_MAX_VERSION",
    "MECHANISMS",
    "SaslEndpoint",
    "SaslRelay",
    "SaslServer",
    "SaslSession",
    "Step",
    "frame",
    "parse_request_header",
    "rewrite_api_versions",
]

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
#: The highest SaslAuthenticate version implemented here (v2 is flexible, KIP-482).
AUTHENTICATE_MAX_VERSION = 2
#: What ApiVersions answers are rewritten to advertise by default, as Kafka 2.5+ does.
ADVERTISED: Mapping[int, tuple[int, int]] = {
    SASL_HANDSHAKE: (0, 1),
    SASL_AUTHENTICATE: (0, AUTHENTICATE_MAX_VERSION),
}
#: The first flexible version (request header v2, response header v1) of the
#: APIs whose requests the relay reads; SaslHandshake has none.
_FIRST_FLEXIBLE = {API_VERSIONS: 3, SASL_AUTHENTICATE: 2}

UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58

_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECHANISMS = ("PLAIN", *_HASHES)

#: Kafka's sasl.server.max.receive.size: the largest frame before authentication.
MAX_PRE_AUTH_FRAME = 512 * 1024
_MAX_BROKER_FRAME = 1024 * 1024


# --------------------------------------------------------------------------- wire
class Malformed(ValueError):
    """A frame that does not parse as what it claims to be."""


class _Cursor:
    """Reads Kafka primitive types from a buffer; raises Malformed past its end."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def take(self, n: int) -> bytes:
        if n < 0 or self.offset + n > len(self.data):
            raise Malformed(f"needs {n} bytes at offset {self.offset} of {len(self.data)}")
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise Malformed("unsigned varint longer than 5 bytes")

    def nullable_string(self) -> bytes | None:
        n = self.int16()
        return None if n == -1 else self.take(n)

    def string(self) -> bytes:
        value = self.nullable_string()
        if value is None:
            raise Malformed("null where a string is required")
        return value

    def bytes_(self) -> bytes:
        return self.take(self.int32())

    def compact_bytes(self) -> bytes:
        n = self.uvarint()  # the length plus one; 0 is null
        if n == 0:
            raise Malformed("null where bytes are required")
        return self.take(n - 1)

    def tagged_fields(self) -> bytes:
        """The raw bytes of a tagged-field section (kept as they are)."""
        start = self.offset
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())
        return self.data[start : self.offset]

    def rest(self) -> bytes:
        chunk = self.data[self.offset :]
        self.offset = len(self.data)
        return chunk


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(value: bytes | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    return struct.pack(">h", len(value)) + value


def _compact(value: bytes | None) -> bytes:
    """COMPACT_NULLABLE_STRING or COMPACT_BYTES: the length plus one as a varint (0: null)."""
    if value is None:
        return _uvarint(0)
    return _uvarint(len(value) + 1) + value


_NO_TAGGED_FIELDS = _uvarint(0)


def frame(body: bytes) -> bytes:
    """``body`` with its 4-byte big-endian length in front."""
    return struct.pack(">i", len(body)) + body


class RequestHeader(NamedTuple):
    """The start of a request body.

    ``flexible`` and ``body_offset`` are right for the APIs the relay reads
    (ApiVersions, SaslHandshake, SaslAuthenticate); it refuses others unread.
    """

    api_key: int
    api_version: int
    correlation_id: int
    body_offset: int
    flexible: bool


def parse_request_header(body: bytes) -> RequestHeader:
    """Parse a request header: key, version, correlation id, nullable client id.

    That is header v1; flexible versions use header v2, which adds tagged fields
    after the client id (whose length stays an int16, KIP-482).
    """
    cursor = _Cursor(body)
    api_key, api_version, correlation_id = cursor.int16(), cursor.int16(), cursor.int32()
    cursor.nullable_string()
    flexible = api_key in _FIRST_FLEXIBLE and api_version >= _FIRST_FLEXIBLE[api_key]
    if flexible:
        cursor.tagged_fields()
    return RequestHeader(api_key, api_version, correlation_id, cursor.offset, flexible)


def rewrite_api_versions(
    body: bytes, version: int, advertised: Mapping[int, tuple[int, int]] = ADVERTISED
) -> bytes:
    """An ApiVersions response body (after the 4-byte length) with ``advertised`` in it.

    Each advertised key replaces the broker's entry, or is appended when the
    broker did not list it. v3+ responses use compact arrays and tagged fields
    (the response header stays v0 at every version); error responses pass
    unchanged (a broker answers an unsupported version in the v0 layout).
    """
    cursor = _Cursor(body)
    correlation_id, error_code = cursor.int32(), cursor.int16()
    if error_code != 0:
        return body
    flexible = version >= 3
    count = cursor.uvarint() - 1 if flexible else cursor.int32()
    if count < 0:
        raise Malformed("null api_keys array in an ApiVersions response")
    entries: list[tuple[int, int, int, bytes]] = []
    for _ in range(count):
        key, low, high = cursor.int16(), cursor.int16(), cursor.int16()
        entries.append((key, low, high, cursor.tagged_fields() if flexible else b""))
    tail = cursor.rest()  # throttle_time_ms (v1+) and the top-level tagged fields (v3+)

    missing = dict(advertised)
    for i, (key, _, _, tags) in enumerate(entries):
        if key in missing:
            low, high = missing.pop(key)
            entries[i] = (key, low, high, tags)
    no_tags = _uvarint(0) if flexible else b""
    entries += [(key, low, high, no_tags) for key, (low, high) in missing.items()]

    out = [struct.pack(">ih", correlation_id, error_code)]
    out.append(_uvarint(len(entries) + 1) if flexible else struct.pack(">i", len(entries)))
    out += [struct.pack(">hhh", key, low, high) + tags for key, low, high, tags in entries]
    out.append(tail)
    return b"".join(out)


def _handshake_response(correlation_id: int, error_code: int, mechanisms: Iterable[str]) -> bytes:
    names = [m.encode() for m in mechanisms]
    parts = [struct.pack(">ihi", correlation_id, error_code, len(names))]
    parts += [_string(name) for name in names]
    return frame(b"".join(parts))


def _authenticate_response(
    correlation_id: int, version: int, error_code: int, message: str | None, auth_bytes: bytes
) -> bytes:
    text = None if message is None else message.encode()
    # session_lifetime_ms (v1+) is 0: no re-authentication.
    if version >= _FIRST_FLEXIBLE[SASL_AUTHENTICATE]:
        # KIP-482: response header v1, compact fields, tagged fields.
        body = struct.pack(">i", correlation_id) + _NO_TAGGED_FIELDS
        body += struct.pack(">h", error_code) + _compact(text) + _compact(auth_bytes)
        body += struct.pack(">q", 0) + _NO_TAGGED_FIELDS
        return frame(body)
    body = struct.pack(">ih", correlation_id, error_code) + _string(text)
    body += struct.pack(">i", len(auth_bytes)) + auth_bytes
    if version >= 1:
        body += struct.pack(">q", 0)
    return frame(body)


# --------------------------------------------------------------------------- mechanisms
class AuthenticationFailed(Exception):
    """The client's SASL message was refused; the text goes to the client."""


@dataclass(frozen=True)
class ScramCredential:
    """What a SCRAM server stores for a user (RFC 5802 section 3): never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def scram_credential(
    hash_name: str, password: bytes, salt: bytes, iterations: int
) -> ScramCredential:
    """The SCRAM credential for ``password`` (``hash_name`` is a hashlib name)."""
    salted = hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    return ScramCredential(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.new(hash_name, client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", hash_name),
    )


class _PlainExchange:
    """RFC 4616: one message ``authzid NUL authcid NUL passwd``, answered with nothing."""

    def __init__(self, passwords: Mapping[str, bytes]) -> None:
        self._passwords = passwords
        self.done = False

    def step(self, token: bytes) -> bytes:
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed(
                f"Invalid SASL/PLAIN message: expected 3 fields, got {len(parts)}"
            )
        authzid, user, password = parts
        expected = self._passwords.get(user.decode("utf-8", "replace"))
        if expected is None or not hmac.compare_digest(password, expected):
            raise AuthenticationFailed("Authentication failed: invalid username or password")
        if authzid and authzid != user:
            raise AuthenticationFailed(
                "Authentication failed: the authorization id differs from the user name"
            )
        self.done = True
        return b""


def _attributes(text: str) -> list[tuple[str, str]]:
    """RFC 5802 ``a=value,b=value`` pairs, in order."""
    out = []
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or len(name) != 1:
            raise AuthenticationFailed(f"Invalid SCRAM message: bad attribute {name[:8]!r}")
        out.append((name, value))
    return out


def _saslname(value: str) -> str:
    """Decode RFC 5802 ``saslname``: ``=2C`` is a comma, ``=3D`` an equals sign."""
    pieces = value.split("=")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if piece[:2] == "2C":
            out.append("," + piece[2:])
        elif piece[:2] == "3D":
            out.append("=" + piece[2:])
        else:
            raise AuthenticationFailed("Invalid SCRAM message: bad escape in the user name")
    return "".join(out)


class _ScramExchange:
    """RFC 5802 server: client-first -> server-first, client-final -> server-final."""

    def __init__(self, mechanism: str, credentials: Mapping[str, ScramCredential]) -> None:
        self._mechanism = mechanism
        self._hash = _HASHES[mechanism]
        self._credentials = credentials
        self._credential: ScramCredential | None = None
        self._gs2_header = ""
        self._nonce = ""
        self._auth_prefix = ""
        self.done = False

    def _refuse(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            "Authentication failed during authentication due to invalid credentials "
            f"with SASL mechanism {self._mechanism}"
        )

    def step(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SCRAM message: not UTF-8") from None
        if self._credential is None:
            return self._server_first(text)
        return self._server_final(text)

    def _server_first(self, text: str) -> bytes:
        cbind, authzid, bare = [*text.split(",", 2), "", ""][:3]
        if cbind not in ("n", "y"):
            raise AuthenticationFailed("Invalid SCRAM message: channel binding is not supported")
        if authzid and not authzid.startswith("a="):
            raise AuthenticationFailed("Invalid SCRAM message: bad gs2 header")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise AuthenticationFailed("Invalid SCRAM message: expected n=user,r=nonce")
        if any(name == "m" for name, _ in attrs):
            raise AuthenticationFailed("Invalid SCRAM message: unsupported mandatory extension")
        user = _saslname(attrs[0][1])
        if authzid and _saslname(authzid[2:]) != user:
            raise AuthenticationFailed(
                "Authentication failed: the authorization id differs from the user name"
            )
        credential = self._credentials.get(user)
        if credential is None:
            raise self._refuse()  # as for a wrong password: do not tell which users exist
        self._credential = credential
        self._gs2_header = f"{cbind},{authzid},"
        self._nonce = attrs[1][1] + secrets.token_urlsafe(18)
        salt = base64.b64encode(credential.salt).decode()
        server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        self._auth_prefix = f"{bare},{server_first}"
        return server_first.encode()

    def _server_final(self, text: str) -> bytes:
        credential = self._credential
        if self.done or credential is None:
            raise AuthenticationFailed("Invalid SCRAM state: the exchange is over")
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise AuthenticationFailed("Invalid SCRAM message: no proof")
        attrs = dict(_attributes(without_proof))
        try:
            binding = base64.b64decode(attrs.get("c", ""), validate=True)
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise AuthenticationFailed("Invalid SCRAM message: bad base64") from None
        if binding != self._gs2_header.encode():
            raise AuthenticationFailed("Invalid SCRAM message: channel binding mismatch")
        if attrs.get("r") != self._nonce:
            raise AuthenticationFailed("Invalid SCRAM message: nonce mismatch")
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        signature = hmac.digest(credential.stored_key, auth_message, self._hash)
        if len(proof) != len(signature):
            raise self._refuse()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(
            hashlib.new(self._hash, client_key).digest(), credential.stored_key
        ):
            raise self._refuse()
        self.done = True
        verifier = hmac.digest(credential.server_key, auth_message, self._hash)
        return b"v=" + base64.b64encode(verifier)


_Exchange = _PlainExchange | _ScramExchange


# --------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Step:
    """What to do with one client frame before authentication.

    ``forward`` is set for ApiVersions: send the frame to the broker and rewrite
    its answer for that request version. Otherwise send ``reply`` (whole frames,
    maybe empty), then close the connection when ``close`` is set.
    """

    reply: bytes = b""
    forward: int | None = None
    close: bool = False


class SaslServer:
    """Users, enabled mechanisms and counters shared by every connection of a relay.

    ``authenticate_max_version`` is the highest SaslAuthenticate version
    advertised and accepted: 2 as Kafka 2.5+, 1 as Kafka 2.2-2.4, 0 as 1.0-2.1.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        mechanisms: Iterable[str] = MECHANISMS,
        iterations: int = 4096,
        authenticate_max_version: int = AUTHENTICATE_MAX_VERSION,
    ) -> None:
        self.mechanisms = tuple(mechanisms)
        unknown = set(self.mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"no server side for {sorted(unknown)}; known: {MECHANISMS}")
        if iterations < 4096:
            raise ValueError("RFC 7677 asks for at least 4096 iterations")
        if not 0 <= authenticate_max_version <= AUTHENTICATE_MAX_VERSION:
            raise ValueError(
                f"SaslAuthenticate v{authenticate_max_version} is not implemented "
                f"(v0-{AUTHENTICATE_MAX_VERSION} are)"
            )
        #: What ApiVersions answers are rewritten to advertise; other versions are refused.
        self.advertised: Mapping[int, tuple[int, int]] = {
            **ADVERTISED,
            SASL_AUTHENTICATE: (0, authenticate_max_version),
        }
        self._passwords = {user: password.encode() for user, password in users.items()}
        self._scram = {
            mechanism: {
                user: scram_credential(hash_name, password, os.urandom(16), iterations)
                for user, password in self._passwords.items()
            }
            for mechanism, hash_name in _HASHES.items()
            if mechanism in self.mechanisms
        }
        #: Successful authentications per mechanism.
        self.succeeded: Counter[str] = Counter()
        #: Refused credentials (or malformed SASL messages) per mechanism.
        self.failed: Counter[str] = Counter()
        #: Handshakes asking for a mechanism that is not enabled, per mechanism asked.
        self.unsupported: Counter[str] = Counter()
        #: Connections closed for a request that is not allowed before authentication.
        self.refused = 0
        #: SaslHandshake requests per request version (v0: bare tokens follow).
        self.handshakes: Counter[int] = Counter()
        #: SaslAuthenticate requests per request version (refused ones included).
        self.authenticates: Counter[int] = Counter()

    def exchange(self, mechanism: str) -> _Exchange:
        """The server side of one exchange with ``mechanism`` (an enabled one)."""
        if mechanism == "PLAIN":
            return _PlainExchange(self._passwords)
        return _ScramExchange(mechanism, self._scram[mechanism])

    def session(self) -> SaslSession:
        """The state of one new client connection."""
        return SaslSession(self)


class SaslSession:
    """One client connection until it is authenticated: frames in, :class:`Step` out.

    SaslHandshake v1 is followed by SaslAuthenticate requests; after
    SaslHandshake v0 the SASL tokens travel as bare length-prefixed frames
    (no Kafka header), and a refusal can only close the connection.
    """

    def __init__(self, server: SaslServer) -> None:
        self._server = server
        self._mechanism: str | None = None
        self._exchange: _Exchange | None = None
        self._bare_tokens = False
        self.authenticated = False

    def receive(self, body: bytes) -> Step:
        """The step for one client frame (``body`` without its length)."""
        if self.authenticated:
            raise RuntimeError("authenticated: relay the bytes instead")
        if self._bare_tokens:
            return self._token(body, None)
        try:
            header = parse_request_header(body)
            # As Kafka: ApiVersions until the handshake, then SASL requests only.
            if header.api_key == API_VERSIONS and self._exchange is None:
                return Step(forward=header.api_version)
            low, high = self._server.advertised.get(header.api_key, (0, -1))
            if not low <= header.api_version <= high:
                return self._refuse()
            cursor = _Cursor(body, header.body_offset)
            if header.api_key == SASL_HANDSHAKE and self._exchange is None:
                return self._handshake(header, cursor.string())
            if header.api_key == SASL_AUTHENTICATE and self._exchange is not None:
                if header.flexible:
                    token = cursor.compact_bytes()
                    cursor.tagged_fields()
                else:
                    token = cursor.bytes_()
                self._server.authenticates[header.api_version] += 1
                return self._token(token, header)
        except Malformed:
            pass
        return self._refuse()

    def _refuse(self) -> Step:
        self._server.refused += 1
        return Step(close=True)

    def _handshake(self, header: RequestHeader, mechanism_bytes: bytes) -> Step:
        mechanism = mechanism_bytes.decode("utf-8", "replace")
        enabled = self._server.mechanisms
        self._server.handshakes[header.api_version] += 1
        if mechanism not in enabled:
            self._server.unsupported[mechanism] += 1
            reply = _handshake_response(header.correlation_id, UNSUPPORTED_SASL_MECHANISM, enabled)
            return Step(reply=reply, close=True)
        self._mechanism = mechanism
        self._exchange = self._server.exchange(mechanism)
        self._bare_tokens = header.api_version == 0
        return Step(reply=_handshake_response(header.correlation_id, 0, enabled))

    def _token(self, token: bytes, header: RequestHeader | None) -> Step:
        assert self._exchange is not None
        assert self._mechanism is not None
        try:
            challenge = self._exchange.step(token)
        except AuthenticationFailed as exc:
            self._server.failed[self._mechanism] += 1
            if header is None:
                return Step(close=True)
            reply = _authenticate_response(
                header.correlation_id, header.api_version, SASL_AUTHENTICATION_FAILED, str(exc), b""
            )
            return Step(reply=reply, close=True)
        if self._exchange.done:
            self.authenticated = True
            self._server.succeeded[self._mechanism] += 1
        if header is None:
            return Step(reply=frame(challenge))
        reply = _authenticate_response(
            header.correlation_id, header.api_version, 0, None, challenge
        )
        return Step(reply=reply)


# --------------------------------------------------------------------------- relay
async def _read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    if not 0 <= size <= limit:
        raise Malformed(f"frame of {size} bytes (limit {limit})")
    return await reader.readexactly(size)


class SaslRelay(Relay):
    """A :class:`Relay` to ``target`` that authenticates each client with SASL first.

    ``users`` maps user names to passwords; ``mechanisms`` are those enabled;
    ``authenticate_max_version`` is the highest SaslAuthenticate version it
    advertises and accepts (2, as Kafka 2.5+; 1 as Kafka 2.2-2.4). With
    ``ssl_context`` it terminates TLS too (SASL_SSL). The counters of
    ``relay.sasl`` (a :class:`SaslServer`: ``succeeded``, ``failed``,
    ``unsupported``, ``refused``, ``handshakes``, ``authenticates``) let a test
    prove which SASL path a client took.

    After a refusal it answers, then waits ``failed_authentication_delay``
    seconds before closing, as Kafka does (``connection.failed.authentication.
    delay.ms``, 100 ms by default). The wait matters: kafka-python 3.0.12 drops
    bytes that reach it in the same read as the end of the stream, so an
    immediate close often hides the answer and the client sees a bare disconnect.
    """

    def __init__(
        self,
        target: tuple[str, int],
        users: Mapping[str, str],
        *,
        mechanisms: Iterable[str] = MECHANISMS,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
        iterations: int = 4096,
        authenticate_max_version: int = AUTHENTICATE_MAX_VERSION,
        failed_authentication_delay: float = 0.1,
    ) -> None:
        # Before the server accepts.
        self.sasl = SaslServer(users, mechanisms, iterations, authenticate_max_version)
        self.failed_authentication_delay = failed_authentication_delay
        super().__init__(target=target, ssl_context=ssl_context, port=port)

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:port`` for kafka-python's ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
    ) -> None:
        session = self.sasl.session()
        try:
            while not session.authenticated:
                body = await _read_frame(reader, MAX_PRE_AUTH_FRAME)
                step = session.receive(body)
                if step.forward is not None:
                    upstream.write(frame(body))
                    await upstream.drain()
                    answer = await _read_frame(up_reader, _MAX_BROKER_FRAME)
                    rewritten = rewrite_api_versions(answer, step.forward, self.sasl.advertised)
                    writer.write(frame(rewritten))
                else:
                    writer.write(step.reply)
                await writer.drain()
                if step.close:
                    upstream.transport.abort()
                    if step.reply:
                        await asyncio.sleep(self.failed_authentication_delay)
                    writer.close()  # after the reply is flushed (and TLS close_notify)
                    with contextlib.suppress(OSError, asyncio.TimeoutError):
                        await asyncio.wait_for(writer.wait_closed(), 2)
                    return
        except (OSError, Malformed, asyncio.IncompleteReadError):
            writer.transport.abort()
            upstream.transport.abort()
            return
        await super()._serve(reader, writer, up_reader, upstream)


@dataclass
class SaslEndpoint:
    """A SASL listener for tests: ``bootstrap`` for clients, ``relay`` for its counters."""

    bootstrap: str
    relay: SaslRelay
